"""The object store port: where finished media and files go when a node's disk is not the
system of record (``storage.objects``: local disk, the default; ``storage.objects_s3``: any
S3-compatible store). Keys mirror the data folder: ``recordings/<take>/segment-000.webm``,
``uploads/<attempt>/<id>.<format>``.

A file is put with the SHA-256 its record (the take's manifest, the answer's file) says it
has: the store hashes the bytes as they go up and keeps the object only when they match
(:class:`ObjectMismatch` otherwise: nothing is left under the key). The digest is kept with
the object (``ObjectInfo.sha256``), so a reader can tell a verified object from anything else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol


class ObjectMismatch(Exception):
    """The bytes that went up do not hash to the SHA-256 their record gives."""

    def __init__(self, key: str, expected: str, actual: str) -> None:
        super().__init__(f"{key}: SHA-256 {actual} does not match the recorded {expected}")
        self.key = key
        self.expected = expected
        self.actual = actual


class ObjectStoreError(Exception):
    """The store refused or could not be reached (the local file is kept)."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    sha256: str | None = None  # as verified when it was put; None for a piece
    metadata: Mapping[str, str] | None = None


class ObjectStore(Protocol):
    """Every call is safe on the event loop (blocking I/O runs in the store's threads)."""

    async def put_file(self, key: str, path: Path, sha256: str) -> ObjectInfo:
        """Upload ``path`` (multipart when large); raise :class:`ObjectMismatch` and keep
        nothing when its bytes do not hash to ``sha256``."""
        ...

    async def put_bytes(
        self, key: str, data: bytes, metadata: Mapping[str, str] | None = None
    ) -> None: ...

    async def head(self, key: str) -> ObjectInfo | None: ...

    async def read(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        """Bytes ``start`` up to ``end`` (exclusive; None: to the end)."""
        ...

    def stream(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes ``start`` up to ``end`` (exclusive) in chunks, never all in memory."""
        ...

    def open_sync(self, key: str) -> tuple[BinaryIO, int]:
        """A readable file object of the whole object and its size, for worker threads."""
        ...

    async def download(self, key: str, path: Path) -> None:
        """Write the object to ``path`` (through a temporary file, fsynced)."""
        ...

    async def delete(self, *keys: str) -> None: ...

    async def list(self, prefix: str) -> list[ObjectInfo]:
        """Every object whose key starts with ``prefix``, by key."""
        ...

    async def close(self) -> None: ...


class FileShipping(Protocol):
    """Finished files of the data folder copied to the object store (``media.shipping``):
    what the layers that write files (answer files, fills) are given when ``storage_url``
    is set."""

    async def ship(self, path: Path, sha256: str | None = None) -> bool:
        """Upload ``path`` under its key, checked against ``sha256`` (its record's; None:
        the local file's own, hashed first). False (logged and counted, the local file kept)
        when it could not be stored or did not match."""
        ...

    async def unship(self, *paths: Path) -> None:
        """Delete the objects of these files (they were removed)."""
        ...

    async def shipped(self, path: Path) -> bool:
        """Whether the file's object is in the store (verified)."""
        ...
