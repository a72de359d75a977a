"""Recordings and answer files as HTTP responses: from the object store when ``storage_url``
is set and the file's object is there (HTTP Range answered from it: 206 with the bytes
asked for, 416 past the end), else from local disk as before (``web.FileResponse``).

Views decide who may have a file (the same auth as ever) and hand its local path here; the
object's key is that path under the data folder (``media.shipping.object_key``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from aiohttp import web

from exams.shared.errors import NotFound
from exams.shared.objects import ObjectStore, ObjectStoreError
from media.shipping import object_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredFiles:
    root: Path  # the data folder
    store: ObjectStore | None = None

    async def response(
        self,
        request: web.Request,
        path: Path,
        headers: dict[str, str],
        missing: str = "this file is missing on the server",
    ) -> web.StreamResponse:
        if self.store is not None:
            key = object_key(self.root, path)
            try:
                info = await self.store.head(key)
            except ObjectStoreError:
                log.exception("object store: could not look up %s; trying the local file", key)
                info = None
            if info is not None and info.sha256 is not None:
                return await _ranged(request, self.store, key, info.size, headers)
        if not await asyncio.to_thread(path.is_file):
            raise NotFound(missing)
        return web.FileResponse(path, headers=headers)

    def open(self, path: Path) -> tuple[BinaryIO, int, float]:
        """A file's bytes, size and time for a worker thread (``storage.zip_export``):
        the local file, else its object. FileNotFoundError when neither is there."""
        try:
            f = path.open("rb")
        except FileNotFoundError:
            if self.store is None:
                raise
            try:
                body, size = self.store.open_sync(object_key(self.root, path))
            except Exception as exc:  # no such object (or the store is unreachable)
                raise FileNotFoundError(f"{path}: not here, and not in the store") from exc
            return body, size, time.time()
        stat = os.fstat(f.fileno())
        return f, stat.st_size, stat.st_mtime


async def _ranged(
    request: web.Request, store: ObjectStore, key: str, size: int, headers: dict[str, str]
) -> web.StreamResponse:
    """One byte range (or the whole object) streamed from the store, as FileResponse would
    answer it from a file: 200, 206 with Content-Range, or 416 with ``bytes */size``."""
    try:
        wanted = request.http_range  # a slice; ValueError for a range aiohttp cannot parse
    except ValueError:
        return _unsatisfiable(size)
    start, stop = wanted.start, wanted.stop
    status = 200
    if start is None:  # no Range: the whole object
        start, stop = 0, size
    else:
        if start < 0:  # bytes=-N: the last N bytes
            start = max(0, size + start)
        stop = size if stop is None else min(stop, size)
        if start >= size:
            return _unsatisfiable(size)
        status = 206
    response = web.StreamResponse(status=status, headers=headers)
    response.headers["Accept-Ranges"] = "bytes"
    response.content_length = stop - start
    if status == 206:
        response.headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    await response.prepare(request)
    if request.method != "HEAD":
        async for chunk in store.stream(key, start, stop):
            await response.write(chunk)
    await response.write_eof()
    return response


def _unsatisfiable(size: int) -> web.Response:
    return web.Response(status=416, headers={"Content-Range": f"bytes */{size}"})
