"""A tus 1.0 client for tests, on :class:`~tests.support.api.ApiClient`, and raw HTTP for
requests a well-behaved client never sends (a body cut off, a body that hangs)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from exams.identity.accounts import Role
from tests.support.api import ApiClient, Reply
from tests.support.exams import (
    add_unit,
    create_exam,
    exam_body,
    offline_question,
    staff,
    through_journey,
    verify_for_exam,
)
from tests.support.server import RunningServer

KIB = 1024
TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_STREAM = "application/offset+octet-stream"


def metadata(**values: str) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items()
    )


def sha1_header(data: bytes) -> str:
    return "sha1 " + base64.b64encode(hashlib.sha1(data).digest()).decode()


@dataclass
class Tus:
    api: ApiClient

    async def create(
        self,
        length: int,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        **meta: str,
    ) -> Reply:
        sent = {**TUS, "Upload-Length": str(length), "Upload-Metadata": metadata(**meta)}
        if body is not None:
            sent["Content-Type"] = OFFSET_STREAM
        sent.update(headers or {})
        return await self.api.call("POST", "/api/uploads/", data=body, headers=sent)

    async def head(self, url: str) -> Reply:
        return await self.api.call("HEAD", url, headers=TUS)

    async def patch(
        self, url: str, offset: int, data: bytes, headers: dict[str, str] | None = None
    ) -> Reply:
        sent = {**TUS, "Upload-Offset": str(offset), "Content-Type": OFFSET_STREAM}
        sent.update(headers or {})
        return await self.api.call("PATCH", url, data=data, headers=sent)

    async def delete(self, url: str) -> Reply:
        return await self.api.call("DELETE", url, headers=TUS)

    async def send_all(self, url: str, data: bytes, chunk: int, start: int = 0) -> Reply:
        """PATCH ``data[start:]`` in chunks; the last reply."""
        offset = start
        reply: Reply | None = None
        while offset < len(data):
            reply = await self.patch(url, offset, data[offset : offset + chunk])
            assert reply.status == 204, reply
            offset = int(reply.headers["Upload-Offset"])
        assert reply is not None
        return reply

    async def offset(self, url: str) -> int:
        reply = await self.head(url)
        assert reply.status == 200, reply
        return int(reply.headers["Upload-Offset"])


async def raw_patch(
    api: ApiClient, url: str, offset: int, length: int | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Start a PATCH announcing ``length`` bytes (None: a chunked body, see :func:`chunk`)
    and send only its headers; the socket."""
    where = urlsplit(api.server.url)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    size = "Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}"
    head = (
        f"PATCH {url} HTTP/1.1\r\nHost: {where.netloc}\r\nOrigin: {api.server.url}\r\n"
        f"Cookie: examcast_session={api.cookie()}\r\nTus-Resumable: 1.0.0\r\n"
        f"Upload-Offset: {offset}\r\nContent-Type: {OFFSET_STREAM}\r\n"
        f"{size}\r\n\r\n"
    )
    writer.write(head.encode())
    await writer.drain()
    return reader, writer


def chunk(data: bytes) -> bytes:
    """``data`` as one chunk of a chunked body (``b""``: the body's end)."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def status_line(reader: asyncio.StreamReader, timeout: float = 10) -> int:
    line = await asyncio.wait_for(reader.readline(), timeout)
    return int(line.split()[1]) if line else 0


def upload_id(url: str) -> str:
    """The upload id of an upload's URL (``/api/uploads/<id>?c=<candidate id>``)."""
    return urlsplit(url).path.rsplit("/", 1)[1]


def restart_url(url: str) -> str:
    """``POST <upload>/restart``, with the upload URL's query (its ``c=``)."""
    where = urlsplit(url)
    return f"{where.path}/restart?{where.query}" if where.query else f"{where.path}/restart"


def q(exam_id: str, question_id: str = "q9") -> str:
    return f"/api/exams/{exam_id}/questions/{question_id}"


async def candidate_at(
    server: RunningServer, admin: ApiClient, who: ApiClient, *questions: dict[str, Any], **exam: Any
) -> tuple[str, Any]:
    """An exam of ``questions`` (by default one offline question taking mp4 and png up to
    4 MiB), ``who`` verified for it with the offline question opened."""
    await add_unit(server, "10001")
    await staff(server, admin, Role.UNIT_ADMIN, "10001")
    questions = questions or (offline_question(max_bytes=4 * KIB * KIB),)
    body = exam_body(*questions, now=time.time()) | exam
    exam_id = (await create_exam(admin, body))["id"]
    account = await through_journey(server, who, "10001")
    await verify_for_exam(who, account, exam_id)
    for question in questions:
        if question["mode"] == "offline":
            opened = await who.call("POST", q(exam_id, question["id"]) + "/open")
            assert opened.status == 200, opened
    return exam_id, account


def about(exam_id: str, name: str = "演奏.mp4", **more: str) -> dict[str, Any]:
    return {"filename": name, "exam_id": exam_id, "question_id": "q9", **more}


async def files_of(client: ApiClient, exam_id: str, question_id: str = "q9") -> list[Any]:
    page = await client.call("GET", q(exam_id, question_id))
    return list(page.body["question"]["attempt"]["files"])
