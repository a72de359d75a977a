"""A unit admin uploads the candidates' reference photos (报名照片) for the face check.

As admissions offices keep them: a zip of files named by ID number
(``110101199001011234.jpg``; folders inside are fine), or the files of such a folder one by
one. Each photo is checked on its own and gets its own answer: stored, or refused with
what is wrong in Chinese and English (not a JPEG/PNG by its first bytes, too large, no face,
two faces, a face too small, blurry, too dark, an ID number not on the unit's admitted
list). The face checks are the engine's (``media.face_engine.photo_problems``), run in a
worker thread, one photo at a time.
"""

from __future__ import annotations

import asyncio
import io
import re
import secrets
import zipfile
from collections.abc import Callable
from typing import Any

from exams.admission.units import Units
from exams.identity.accounts import Account, Role
from exams.identity.reference_photos import ReferencePhoto, ReferencePhotoRepository, problem
from exams.shared.errors import Forbidden, InvalidInput, TooLarge
from exams.shared.objects import ObjectStore
from exams.shared.ports import AuditLog, Clock, Entry, Event

PhotoCheck = Callable[[bytes], list[str]]  # blocking: problem codes, [] for a good photo

MIN_BYTES = 1024
MAX_FILES = 5000  # photos in one zip
_NAME = re.compile(r"(?P<id>[0-9A-Za-z]{4,32})\.(?P<ext>jpe?g|png)", re.I)
_SIGNATURES = ((b"\xff\xd8\xff", "image/jpeg", "jpg"), (b"\x89PNG\r\n\x1a\n", "image/png", "png"))


def _sniff(data: bytes) -> tuple[str, str] | None:
    for magic, media_type, suffix in _SIGNATURES:
        if data.startswith(magic):
            return media_type, suffix
    return None


def _members(data: bytes, max_bytes: int) -> list[tuple[str, bytes | None]]:
    """(file name, bytes or None when too large) of each file in the zip (blocking)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise InvalidInput("this is not a zip file: zip the folder of photos") from exc
    with archive:
        infos = [
            i
            for i in archive.infolist()
            if not i.is_dir()
            and not i.filename.startswith("__MACOSX/")
            and not i.filename.rsplit("/", 1)[-1].startswith(".")
        ]
        if len(infos) > MAX_FILES:
            raise TooLarge(f"at most {MAX_FILES} photos in one zip", {"limit": MAX_FILES})
        out: list[tuple[str, bytes | None]] = []
        for info in infos:
            name = info.filename.rsplit("/", 1)[-1]
            if info.file_size > max_bytes:  # said by the zip; the read below is bounded too
                out.append((name, None))
                continue
            try:
                with archive.open(info) as member:
                    body = member.read(max_bytes + 1)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as exc:
                raise InvalidInput(f"the zip is damaged or encrypted at {name!r}") from exc
            out.append((name, None if len(body) > max_bytes else body))
        return out


class ReferencePhotoUploads:
    def __init__(
        self,
        repo: ReferencePhotoRepository,
        units: Units,
        store: ObjectStore,
        audit: AuditLog,
        clock: Clock,
        check: PhotoCheck,
        *,
        max_bytes: int,
        new_key: Callable[[str], str] = lambda suffix: (
            f"faces/reference/{secrets.token_hex(16)}.{suffix}"
        ),
    ) -> None:
        self._repo = repo
        self._units = units
        self._store = store
        self._audit = audit
        self._clock = clock
        self._check = check
        self.max_bytes = max_bytes
        self._new_key = new_key

    async def _admin_of(self, admin: Account, unit_id: str, client: str) -> None:
        if admin.role is not Role.UNIT_ADMIN or admin.unit_id != unit_id:
            await self._audit.record(
                Entry(
                    Event.ACCESS_DENIED,
                    admin.id,
                    client,
                    {"what": "reference_photos", "unit_id": unit_id},
                    self._clock(),
                )
            )
            raise Forbidden("you can manage only the admission unit your account belongs to")
        await self._units.get(unit_id)

    async def upload(
        self, admin: Account, unit_id: str, data: bytes, client: str, file_name: str | None
    ) -> dict[str, Any]:
        """Every photo of a zip named by ID number (``file_name`` None), or one photo named
        ``file_name`` (the ID number and .jpg or .png): each stored or refused on its own."""
        await self._admin_of(admin, unit_id, client)
        members: list[tuple[str, bytes | None]]
        if file_name is not None:
            members = [(file_name, data)]
        else:
            members = await asyncio.to_thread(_members, data, self.max_bytes)
            if not members:
                raise InvalidInput("the zip holds no photos: name each photo by the ID number")
        people: dict[str, list[tuple[str, str]]] = {}  # the number, upper case: as listed
        for entry in await self._units.current(unit_id):
            people.setdefault(entry.id_number.upper(), []).append((entry.id_type, entry.id_number))
        answers = [await self._one(admin, unit_id, name, body, people) for name, body in members]
        stored = sum(1 for a in answers if a["stored"])
        await self._audit.record(
            Entry(
                Event.REFERENCE_PHOTOS_UPLOADED,
                admin.id,
                client,
                {"unit_id": unit_id, "stored": stored, "refused": len(answers) - stored},
                self._clock(),
            )
        )
        return {"stored": stored, "refused": len(answers) - stored, "photos": answers}

    async def _one(
        self,
        admin: Account,
        unit_id: str,
        name: str,
        body: bytes | None,
        people: dict[str, list[tuple[str, str]]],
    ) -> dict[str, Any]:
        named = _NAME.fullmatch(name)
        id_number = named.group("id").upper() if named else None
        answer: dict[str, Any] = {"file": name, "id_number": id_number, "stored": False}
        codes = self._problems_before_faces(named, id_number, body, people)
        if not codes and body is not None:
            codes = await asyncio.to_thread(self._check, body)
        if codes:
            answer["problems"] = [problem(c) for c in codes]
            return answer
        assert body is not None and id_number is not None
        sniffed = _sniff(body)
        assert sniffed is not None  # checked above
        media_type, suffix = sniffed
        key = self._new_key(suffix)
        await self._store.put_bytes(key, body, {"content-type": media_type})
        id_type, listed_number = people[id_number][0]
        photo = ReferencePhoto(
            unit_id,
            id_type,
            listed_number,
            key,
            media_type,
            len(body),
            self._clock(),
            admin.id,
        )
        replaced = await self._repo.put(photo)
        if replaced is not None and replaced != key:
            await self._store.delete(replaced)
        answer.update(stored=True, id_type=photo.id_type, problems=[])
        return answer

    def _problems_before_faces(
        self,
        named: re.Match[str] | None,
        id_number: str | None,
        body: bytes | None,
        people: dict[str, list[tuple[str, str]]],
    ) -> list[str]:
        if named is None or id_number is None:
            return ["bad_name"]
        if body is None:
            return ["too_large"]
        if _sniff(body) is None:
            return ["not_an_image"]
        if len(body) < MIN_BYTES:
            return ["too_small"]
        held = people.get(id_number, [])
        if not held:
            return ["unknown_id_number"]
        if len(held) > 1:
            return ["ambiguous_id_number"]
        return []

    async def listing(self, admin: Account, unit_id: str, client: str) -> dict[str, Any]:
        """Which people of the unit's list have a reference photo, and who has none."""
        await self._admin_of(admin, unit_id, client)
        photos = await self._repo.for_unit(unit_id)
        have = {(p.id_type, p.id_number.upper()) for p in photos}
        listed = await self._units.current(unit_id)
        missing = [e.describe() for e in listed if (e.id_type, e.id_number.upper()) not in have]
        return {
            "photos": [p.describe() for p in photos],
            "missing": missing[:500],
            "missing_count": len(missing),
        }
