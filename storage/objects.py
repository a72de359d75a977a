"""Object stores: the ``storage_url`` setting parsed, and the local-disk implementation of
``exams.shared.objects.ObjectStore`` (objects as files under a folder; what the port's tests
run against besides S3, and a store for a single machine that wants the same code path).

``storage_url`` "" (the default) means no object store at all: files stay where the
recorder and the uploads wrote them, exactly as before object storage existed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import parse_qs, urlsplit

from exams.shared.objects import ObjectInfo, ObjectMismatch, ObjectStore
from exams.shared.telemetry import NO_TELEMETRY, Telemetry

CHUNK = 1024 * 1024
_KEY = re.compile(r"[A-Za-z0-9._/-]{1,900}")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class StorageUrlError(ValueError):
    """``storage_url`` is not one the server can use."""


@dataclass(frozen=True)
class StorageUrl:
    """``s3://BUCKET[/PREFIX]?endpoint=http://host:port&region=us-east-1``, or ``file:///dir``."""

    scheme: str  # "s3" or "file"
    bucket: str = ""
    prefix: str = ""  # every key starts with it ("" or ending in "/")
    endpoint: str | None = None
    region: str = "us-east-1"
    path: Path | None = None  # file://

    @classmethod
    def parse(cls, url: str) -> StorageUrl:
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if parts.scheme == "file":
            if not parts.path.startswith("/"):
                raise StorageUrlError("a file:// storage_url needs an absolute path")
            return cls("file", path=Path(parts.path))
        if parts.scheme != "s3":
            raise StorageUrlError(
                "storage_url must be s3://BUCKET?endpoint=http://HOST:PORT&region=REGION "
                f"(or file:///DIR), not {url!r}"
            )
        if not _BUCKET.fullmatch(parts.netloc):
            raise StorageUrlError(
                f"storage_url: {parts.netloc!r} is not a bucket name (3-63 characters: "
                "lower-case letters, digits, dots and hyphens)"
            )
        endpoint = query.get("endpoint")
        if endpoint is not None and not endpoint.startswith(("http://", "https://")):
            raise StorageUrlError("storage_url: endpoint must be an http:// or https:// URL")
        prefix = parts.path.strip("/")
        unknown = set(query) - {"endpoint", "region"}
        if unknown:
            raise StorageUrlError(f"storage_url: unknown parameter(s) {', '.join(sorted(unknown))}")
        return cls(
            "s3",
            bucket=parts.netloc,
            prefix=f"{prefix}/" if prefix else "",
            endpoint=endpoint,
            region=query.get("region", "us-east-1"),
        )


def open_store(
    url: str,
    access_key: str,
    secret_key: str,
    threads: int = 4,
    telemetry: Telemetry = NO_TELEMETRY,
) -> ObjectStore:
    """The store ``storage_url`` names (call only when it is set)."""
    parsed = StorageUrl.parse(url)
    if parsed.scheme == "file":
        assert parsed.path is not None
        return LocalObjects(parsed.path)
    from storage.objects_s3 import S3Objects  # boto3 loads only when S3 is used

    return S3Objects(parsed, access_key, secret_key, threads=threads, telemetry=telemetry)


def check_key(key: str) -> str:
    if not _KEY.fullmatch(key) or ".." in key.split("/") or key.startswith("/"):
        raise ValueError(f"not an object key: {key!r}")
    return key


class LocalObjects:
    """Objects as files under ``root`` (metadata beside each, in ``<name>.meta.json``)."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def _path(self, key: str) -> Path:
        return self._root / check_key(key)

    async def put_file(self, key: str, path: Path, sha256: str) -> ObjectInfo:
        return await asyncio.to_thread(self._put_file, key, path, sha256)

    def _put_file(self, key: str, source: Path, sha256: str) -> ObjectInfo:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        digest = hashlib.sha256()
        size = 0
        with source.open("rb") as src, tmp.open("wb") as dst:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                dst.write(chunk)
                size += len(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        if digest.hexdigest() != sha256:
            tmp.unlink()
            raise ObjectMismatch(key, sha256, digest.hexdigest())
        _write_meta(target, {"sha256": sha256})
        os.replace(tmp, target)
        return ObjectInfo(key, size, sha256, {"sha256": sha256})

    async def put_bytes(
        self, key: str, data: bytes, metadata: Mapping[str, str] | None = None
    ) -> None:
        def put() -> None:
            target = self._path(key)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".part")
            tmp.write_bytes(data)
            _write_meta(target, dict(metadata or {}))
            os.replace(tmp, target)

        await asyncio.to_thread(put)

    async def head(self, key: str) -> ObjectInfo | None:
        def head() -> ObjectInfo | None:
            path = self._path(key)
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                return None
            meta = _read_meta(path)
            return ObjectInfo(key, size, meta.get("sha256"), meta)

        return await asyncio.to_thread(head)

    async def read(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        def read() -> bytes:
            with self._path(key).open("rb") as f:
                f.seek(start)
                return f.read() if end is None else f.read(max(0, end - start))

        return await asyncio.to_thread(read)

    async def stream(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        at = start
        while at < end:
            chunk = await self.read(key, at, min(end, at + CHUNK))
            if not chunk:
                return
            at += len(chunk)
            yield chunk

    def open_sync(self, key: str) -> tuple[BinaryIO, int]:
        f = self._path(key).open("rb")
        return f, os.fstat(f.fileno()).st_size

    async def download(self, key: str, path: Path) -> None:
        def copy() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".part")
            with self._path(key).open("rb") as src, tmp.open("wb") as dst:
                while chunk := src.read(CHUNK):
                    dst.write(chunk)
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(tmp, path)

        await asyncio.to_thread(copy)

    async def delete(self, *keys: str) -> None:
        def delete() -> None:
            for key in keys:
                path = self._path(key)
                path.unlink(missing_ok=True)
                _meta_path(path).unlink(missing_ok=True)

        await asyncio.to_thread(delete)

    async def list(self, prefix: str) -> list[ObjectInfo]:
        def listing() -> list[ObjectInfo]:
            if not self._root.is_dir():
                return []
            out = []
            for path in self._root.rglob("*"):
                key = path.relative_to(self._root).as_posix()
                if (
                    path.is_file()
                    and key.startswith(prefix)
                    and not path.name.endswith((".meta.json", ".part"))
                ):
                    meta = _read_meta(path)
                    out.append(ObjectInfo(key, path.stat().st_size, meta.get("sha256"), meta))
            return sorted(out, key=lambda o: o.key)

        return await asyncio.to_thread(listing)

    async def close(self) -> None:
        return None


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".meta.json")


def _write_meta(path: Path, meta: dict[str, str]) -> None:
    _meta_path(path).write_text(json.dumps(meta))


def _read_meta(path: Path) -> dict[str, str]:
    try:
        return dict(json.loads(_meta_path(path).read_text()))
    except FileNotFoundError:
        return {}
