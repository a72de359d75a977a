"""Reference photos (报名照片): their records in the database, their bytes in the file store.

Implements ``exams.identity.reference_photos.ReferencePhotoRepository`` and (with the
store) ``exams.identity.reference_photos.ReferencePhotos``.
"""

from __future__ import annotations

import logging

from exams.identity.reference_photos import ReferencePhoto
from exams.shared.objects import ObjectStore, ObjectStoreError
from storage.sql import Connection, Database, Row

log = logging.getLogger(__name__)

_COLUMNS = (
    "unit_id, id_type, id_number, photo_key, photo_type, photo_bytes, uploaded_at, uploaded_by"
)


def _photo(row: Row) -> ReferencePhoto:
    return ReferencePhoto(*(row[c] for c in _COLUMNS.split(", ")))


class SqliteReferencePhotos:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def put(self, photo: ReferencePhoto) -> str | None:
        def write(conn: Connection) -> str | None:
            old: Row | None = conn.execute(
                "SELECT photo_key FROM reference_photos "
                "WHERE unit_id = ? AND id_type = ? AND id_number = ?",
                (photo.unit_id, photo.id_type, photo.id_number),
            ).fetchone()
            conn.execute(
                f"INSERT INTO reference_photos ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?) "
                "ON CONFLICT (unit_id, id_type, id_number) DO UPDATE SET "
                "photo_key = excluded.photo_key, photo_type = excluded.photo_type, "
                "photo_bytes = excluded.photo_bytes, uploaded_at = excluded.uploaded_at, "
                "uploaded_by = excluded.uploaded_by",
                (
                    photo.unit_id,
                    photo.id_type,
                    photo.id_number,
                    photo.key,
                    photo.media_type,
                    photo.size,
                    photo.uploaded_at,
                    photo.uploaded_by,
                ),
            )
            return None if old is None else str(old["photo_key"])

        return await self._db.call(write)

    async def for_account(self, account_id: str) -> ReferencePhoto | None:
        def read(conn: Connection) -> Row | None:
            row: Row | None = conn.execute(
                f"SELECT {', '.join('p.' + c for c in _COLUMNS.split(', '))} "
                "FROM reference_photos p JOIN accounts a "
                "ON a.id_type = p.id_type AND a.id_number = p.id_number "
                "WHERE a.id = ? ORDER BY p.uploaded_at DESC LIMIT 1",
                (account_id,),
            ).fetchone()
            return row

        row = await self._db.call(read)
        return None if row is None else _photo(row)

    async def for_unit(self, unit_id: str) -> list[ReferencePhoto]:
        def read(conn: Connection) -> list[Row]:
            return conn.execute(
                f"SELECT {_COLUMNS} FROM reference_photos WHERE unit_id = ? ORDER BY id_number",
                (unit_id,),
            ).fetchall()

        return [_photo(row) for row in await self._db.call(read)]


class StoredReferencePhotos:
    """``ReferencePhotos`` for the verifiers: the newest photo of the account's person."""

    def __init__(self, repo: SqliteReferencePhotos, store: ObjectStore) -> None:
        self._repo = repo
        self._store = store

    async def get(self, account_id: str) -> bytes | None:
        photo = await self._repo.for_account(account_id)
        if photo is None:
            return None
        try:
            return await self._store.read(photo.key)
        except (FileNotFoundError, ObjectStoreError):
            log.warning("reference photo %s is missing from the file store", photo.key)
            return None
