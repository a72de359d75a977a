"""``exams.shared.objects.ObjectStore`` on any S3-compatible store (AWS S3, SeaweedFS, MinIO,
Ceph RGW), through botocore in a small thread pool, never on the event loop.

Large files go up as a multipart upload: parts of at least :data:`PART_BYTES` (S3 wants 5 MiB
or more for every part but the last), grown for a file so big that 10,000 parts would not
hold it. The SHA-256 is computed over the bytes as they are read for the parts; the object
is completed only when it matches what the file's record says (the multipart upload is
aborted otherwise, so no object with wrong bytes ever appears). The digest is stored as the
object's ``x-amz-meta-sha256``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import math
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO, TypeVar, cast

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from exams.shared.objects import ObjectInfo, ObjectMismatch, ObjectStoreError
from exams.shared.telemetry import NO_TELEMETRY, Count, Telemetry
from storage.objects import StorageUrl, check_key

log = logging.getLogger(__name__)

MIB = 1024 * 1024
PART_BYTES = 8 * MIB  # S3's minimum part is 5 MiB
MAX_PARTS = 10_000
STREAM_CHUNK = MIB
T = TypeVar("T")


def part_size(size: int) -> int:
    """Bytes per part for a file of ``size``: at least PART_BYTES, whole MiB, <= 10,000 parts."""
    return max(PART_BYTES, math.ceil(size / MAX_PARTS / MIB) * MIB)


class S3Objects:
    def __init__(
        self,
        url: StorageUrl,
        access_key: str,
        secret_key: str,
        threads: int = 4,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self._telemetry = telemetry
        self._bucket = url.bucket
        self._prefix = url.prefix
        self._pool = concurrent.futures.ThreadPoolExecutor(
            threads, thread_name_prefix="examcast-s3"
        )
        # Made in a worker thread at the first call: building a boto3 client reads its
        # service models (~0.5 s of CPU), which must not stall the event loop.
        self._made: Any = None
        self._making = threading.Lock()
        self._client_args: dict[str, Any] = {
            "endpoint_url": url.endpoint,
            "region_name": url.region,
            "aws_access_key_id": access_key or None,
            "aws_secret_access_key": secret_key or None,
            "config": Config(
                s3={"addressing_style": "path"},
                max_pool_connections=threads + 2,
                connect_timeout=5,
                read_timeout=60,
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        }
        self.bytes_up = 0

    # -- helpers ---------------------------------------------------------------------------

    @property
    def _client(self) -> Any:
        """The boto3 client (thread-safe once made; sessions are not: one made under a lock)."""
        if self._made is None:
            with self._making:
                if self._made is None:
                    self._made = boto3.session.Session().client("s3", **self._client_args)
        return self._made

    def _key(self, key: str) -> str:
        return self._prefix + check_key(key)

    def _sent(self, op: str, size: int) -> None:
        """``size`` bytes went up (``examcast_object_store_bytes_total{op}``)."""
        self.bytes_up += size
        self._telemetry.count(Count.OBJECT_STORE_BYTES, op, size)

    async def _run(self, op: str, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._timed, op, fn)

    def _timed(self, op: str, fn: Callable[[], T]) -> T:
        """One call in a worker thread, observed (``examcast_backend_call_seconds{s3,op}``);
        a mismatch is observed as a failed ``verify``."""
        began = time.perf_counter()
        ok = False
        try:
            result = fn()
            ok = True
            return result
        except ObjectMismatch:
            self._telemetry.observe_call("s3", "verify", 0.0, False)
            raise
        except (ClientError, BotoCoreError) as exc:
            raise ObjectStoreError(f"object store ({op}): {exc}") from exc
        finally:
            self._telemetry.observe_call("s3", op, time.perf_counter() - began, ok)

    # -- the port --------------------------------------------------------------------------

    async def create_bucket(self) -> None:
        """Make the bucket if it is not there (tests and a first start)."""

        def create() -> None:
            try:
                self._client.head_bucket(Bucket=self._bucket)
                return
            except ClientError:
                pass
            try:
                self._client.create_bucket(Bucket=self._bucket)
            except ClientError as exc:  # made meanwhile by another node
                code = exc.response.get("Error", {}).get("Code")
                if code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

        await self._run("create_bucket", create)

    async def put_file(self, key: str, path: Path, sha256: str) -> ObjectInfo:
        return await self._run("put_file", lambda: self._put_file(key, path, sha256))

    def _put_file(self, key: str, path: Path, sha256: str) -> ObjectInfo:
        full = self._key(key)
        size = path.stat().st_size
        step = part_size(size)
        meta = {"sha256": sha256}
        digest = hashlib.sha256()
        with path.open("rb") as f:
            if size <= step:
                data = f.read()
                digest.update(data)
                if digest.hexdigest() != sha256:
                    raise ObjectMismatch(key, sha256, digest.hexdigest())
                self._client.put_object(Bucket=self._bucket, Key=full, Body=data, Metadata=meta)
                self._sent("put_file", len(data))
                return ObjectInfo(key, len(data), sha256, meta)
            upload = self._client.create_multipart_upload(
                Bucket=self._bucket, Key=full, Metadata=meta
            )["UploadId"]
            try:
                parts = []
                total = 0
                for number in range(1, MAX_PARTS + 1):
                    data = f.read(step)
                    if not data:
                        break
                    digest.update(data)
                    total += len(data)
                    etag = self._client.upload_part(
                        Bucket=self._bucket,
                        Key=full,
                        UploadId=upload,
                        PartNumber=number,
                        Body=data,
                    )["ETag"]
                    self._sent("put_file", len(data))
                    parts.append({"PartNumber": number, "ETag": etag})
                if f.read(1):
                    raise ObjectStoreError(f"{path} grew past 10,000 parts while uploading")
                if digest.hexdigest() != sha256:
                    raise ObjectMismatch(key, sha256, digest.hexdigest())
                self._client.complete_multipart_upload(
                    Bucket=self._bucket,
                    Key=full,
                    UploadId=upload,
                    MultipartUpload={"Parts": parts},
                )
            except BaseException:
                try:
                    self._client.abort_multipart_upload(
                        Bucket=self._bucket, Key=full, UploadId=upload
                    )
                except (ClientError, BotoCoreError):
                    log.warning("could not abort the multipart upload of %s", full)
                raise
        return ObjectInfo(key, total, sha256, meta)

    async def put_bytes(
        self, key: str, data: bytes, metadata: Mapping[str, str] | None = None
    ) -> None:
        def put() -> None:
            self._client.put_object(
                Bucket=self._bucket, Key=self._key(key), Body=data, Metadata=dict(metadata or {})
            )
            self._sent("put", len(data))

        await self._run("put", put)

    async def head(self, key: str) -> ObjectInfo | None:
        def head() -> ObjectInfo | None:
            try:
                got = self._client.head_object(Bucket=self._bucket, Key=self._key(key))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return None
                raise
            meta = dict(got.get("Metadata") or {})
            return ObjectInfo(key, int(got["ContentLength"]), meta.get("sha256"), meta)

        return await self._run("head", head)

    def _get(self, key: str, start: int, end: int | None) -> Any:
        ask = f"bytes={start}-" if end is None else f"bytes={start}-{end - 1}"
        return self._client.get_object(Bucket=self._bucket, Key=self._key(key), Range=ask)["Body"]

    async def read(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        if end is not None and end <= start:
            return b""
        return await self._run("get", lambda: cast(bytes, self._get(key, start, end).read()))

    async def stream(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        if end <= start:
            return
        body = await self._run("get", lambda: self._get(key, start, end))
        try:
            while True:
                chunk = await self._run("read", lambda: cast(bytes, body.read(STREAM_CHUNK)))
                if not chunk:
                    return
                yield chunk
        finally:
            body.close()

    def open_sync(self, key: str) -> tuple[BinaryIO, int]:
        got = self._client.get_object(Bucket=self._bucket, Key=self._key(key))
        return cast(BinaryIO, got["Body"]), int(got["ContentLength"])

    async def download(self, key: str, path: Path) -> None:
        def download() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".part")
            body = self._get(key, 0, None)
            with tmp.open("wb") as dst:
                while chunk := body.read(STREAM_CHUNK):
                    dst.write(chunk)
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(tmp, path)

        await self._run("download", download)

    async def delete(self, *keys: str) -> None:
        full = [{"Key": self._key(k)} for k in keys]

        def delete() -> None:
            for i in range(0, len(full), 1000):
                self._client.delete_objects(
                    Bucket=self._bucket, Delete={"Objects": full[i : i + 1000], "Quiet": True}
                )

        if full:
            await self._run("delete", delete)

    async def list(self, prefix: str) -> list[ObjectInfo]:
        def listing() -> list[ObjectInfo]:
            out = []
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self._bucket, Prefix=self._prefix + prefix
            )
            for page in pages:
                for o in page.get("Contents") or []:
                    out.append(ObjectInfo(o["Key"][len(self._prefix) :], int(o["Size"])))
            return sorted(out, key=lambda o: o.key)

        return await self._run("list", listing)

    async def close(self) -> None:
        self._pool.shutdown(wait=True)
