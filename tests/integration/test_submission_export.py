"""The unit's copy of submitted works: both cameras of a 需二机位 take, named for filing,
and the whole exam as one streamed zip with a SHA-256 manifest (issue #10).

Real aiortc peers record a formal take on both cameras (the candidate's device and
the phone); the candidate adds materials and answers an offline question. The unit
admin downloads each camera and exports the exam: every file in the zip is opened
(recordings with PyAV) and hashed, and the manifest must say the same.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import threading
import time
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import av

from exams.identity.accounts import Role
from exams.shared.ports import Event
from tests.integration.test_second_camera import join, question
from tests.support.api import ApiClient, api_client
from tests.support.exams import (
    Candidate,
    candidate_client,
    create_exam,
    exam_body,
    offline_question,
    online_question,
    phone_client,
    staff,
    verify_for_exam,
)
from tests.support.files import png
from tests.support.media import SyntheticAudio, SyntheticVideo
from tests.support.server import RunningServer, api_server_fixture
from web.keys import AUDIT, TAKE_RECORDS, UNITS

UNIT = "10031"
UNIT_NAME = "中央音乐学院"
PNG = png()


exam_server = api_server_fixture()


async def exam_with_both_kinds(server: RunningServer, admin: ApiClient) -> str:
    await server.app[UNITS].add(UNIT, UNIT_NAME)
    await staff(server, admin, Role.UNIT_ADMIN, UNIT)
    materials = [
        {"kind": "text", "key": "notes", "label": "曲目说明", "max_chars": 200},
        {"kind": "image", "key": "score", "label": "乐谱", "formats": ["png"], "max_bytes": 4096},
    ]
    exam = await create_exam(
        admin,
        exam_body(
            online_question("q1", 1, second_camera_required=True, materials=materials),
            offline_question("q9", 9, formats=["png"], kinds=["image"]),
            now=time.time(),
        ),
    )
    return str(exam["id"])


async def answer_both(server: RunningServer, c: Candidate, exam_id: str) -> str:
    """A formal take on both cameras, materials, submitted; the offline question too."""
    q1 = question(exam_id, "q1")
    await verify_for_exam(c.api, c.account, exam_id)
    assert (await c.call("POST", q1 + "/formal")).status == 200
    async with phone_client(server, c) as phone:
        await join(server, c, phone, q1, [SyntheticVideo(), SyntheticAudio()])
        started = await c.call("POST", q1 + "/takes", {"kind": "formal"})
        assert started.status == 200, started
        take_id = str(started.body["question"]["attempt"]["recording"]["take_id"])
        await phone.device.wait_event("take_started", take_id=take_id)
        await server.recorded(take_id, 1.0, "primary", "secondary")  # frames on both
        stopped = await c.call("POST", q1 + f"/takes/{take_id}/stop")
        assert stopped.body["take"]["state"] == "stored", stopped
        assert stopped.body["take"]["manifest"]["cameras"]["secondary"]["segments"]
        typed = await c.call("POST", q1 + "/materials/notes/text", {"text": "肖邦 练习曲"})
        assert typed.status == 200, typed
        added = await c.call("POST", q1 + "/materials/score/files?name=score.png", data=PNG)
        assert added.status == 201, added
        assert (await c.call("POST", q1 + "/choice", {"take_id": take_id})).status == 200
        assert (await c.call("POST", q1 + "/submit")).status == 200
    q9 = question(exam_id, "q9")
    assert (await c.call("POST", q9 + "/open")).status == 200
    assert (await c.call("POST", q9 + "/files?name=作品.png", data=PNG)).status == 201
    assert (await c.call("POST", q9 + "/submit")).status == 200
    return take_id


async def stored_manifest(server: RunningServer, take_id: str) -> dict[str, Any]:
    take = await server.app[TAKE_RECORDS].get(take_id)
    assert take is not None and take.manifest is not None
    return take.manifest


def disposition_name(header: str) -> str:
    assert header.startswith("attachment;") or header.startswith("inline;"), header
    assert 'filename="' in header, header  # the plain fallback
    star = header.split("filename*=UTF-8''", 1)[1]
    return unquote(star)


def decoded_frames(data: bytes) -> tuple[str, int]:
    frames = 0
    with av.open(io.BytesIO(data), mode="r") as f:
        codec = f.streams.video[0].codec_context.name
        for _ in f.decode(video=0):
            frames += 1
    return codec, frames


async def test_the_console_gets_both_cameras_named_for_filing(
    exam_server: RunningServer,
) -> None:
    async with api_client(exam_server) as admin:
        exam_id = await exam_with_both_kinds(exam_server, admin)
        async with candidate_client(exam_server, UNIT) as c:
            take_id = await answer_both(exam_server, c, exam_id)
            who = c.account
            stranger = await c.call("GET", f"/api/admin/exams/{exam_id}/submissions")
            assert stranger.status == 403

        rows = (await admin.call("GET", f"/api/admin/exams/{exam_id}/submissions")).body
        online = next(r for r in rows["submissions"] if r["question_id"] == "q1")
        assert online["candidate"]["id_number"] == who.id_number
        take = online["take"]
        assert take["take_id"] == take_id and set(take["cameras"]) == {"primary", "secondary"}
        assert take["segments"] == take["cameras"]["primary"]["segments"]
        manifest = await stored_manifest(exam_server, take_id)
        for camera in ("primary", "secondary"):
            shown = take["cameras"][camera]
            part = manifest if camera == "primary" else manifest["cameras"]["secondary"]
            assert shown["recorded_s"] == part["recorded_s"] and shown["gaps"] == part["gaps"]
            [segment] = shown["segments"]
            assert segment["start_s"] == part["segments"][0]["start_s"]
            got = await admin.call("GET", segment["url"])
            assert got.status == 200 and got.headers["Content-Type"] == "video/webm"
            assert got.headers["X-Content-Type-Options"] == "nosniff"
            name = disposition_name(got.headers["Content-Disposition"])
            label = "一机位" if camera == "primary" else "二机位"
            assert (
                name == f"{UNIT_NAME}_钢琴演奏_第1题-Question q1_张三_{who.id_number}_{label}.webm"
            )
            assert hashlib.sha256(got.body).hexdigest() == part["segments"][0]["sha256"]
            codec, frames = await asyncio.to_thread(decoded_frames, got.body)
            assert codec == "vp8" and frames > 10, (camera, frames)
            played = await admin.call("GET", segment["play_url"], headers={"Range": "bytes=0-99"})
            assert played.status == 206 and len(played.body) == 100
            assert played.headers["Content-Disposition"].startswith("inline;")
        base = take["cameras"]["secondary"]["segments"][0]["url"].split("?")[0]
        assert (await admin.call("GET", base + "?camera=third")).status == 400
        assert (
            await admin.call("GET", base.replace("/0", "/7") + "?camera=secondary")
        ).status == 404
        files = next(r for r in rows["submissions"] if r["question_id"] == "q9")["files"]
        got = await admin.call("GET", files[0]["url"])
        name = disposition_name(got.headers["Content-Disposition"])
        assert name == f"{UNIT_NAME}_钢琴演奏_第2题-Question q9_张三_{who.id_number}_作答文件_1.png"


def read_zip(data: bytes) -> tuple[zipfile.ZipFile, str]:
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None  # every CRC checks
    [top] = {n.split("/")[0] for n in archive.namelist()}
    return archive, top


def manifest_rows(archive: zipfile.ZipFile, top: str) -> list[dict[str, str]]:
    text = archive.read(f"{top}/manifest.csv").decode("utf-8")
    assert text.startswith("\ufeff")  # spreadsheet programs then read it as UTF-8
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


async def audited(server: RunningServer, event: Event, count: int) -> list[Any]:
    """The audit entries of ``event`` once there are ``count`` (an export's end is recorded
    just after its last byte is sent)."""
    for _ in range(200):
        found = [e for e in await server.app[AUDIT].recent(100) if e.event is event]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"{count} {event} entries expected, found {len(found)}")


async def export(client: ApiClient, exam_id: str) -> tuple[int, Any, bytes]:
    reply = await client.call("GET", f"/api/admin/exams/{exam_id}/export")
    return reply.status, reply.headers, reply.body


async def test_an_exam_exports_as_one_streamed_zip_with_hashes(
    exam_server: RunningServer, tmp_path: Path
) -> None:
    async with api_client(exam_server) as admin:
        exam_id = await exam_with_both_kinds(exam_server, admin)
        async with candidate_client(exam_server, UNIT) as c:
            take_id = await answer_both(exam_server, c, exam_id)
            who = c.account
            assert (await export(c.api, exam_id))[0] == 403
        async with api_client(exam_server) as other:
            await exam_server.app[UNITS].add("10099", "另一所学院")
            await staff(exam_server, other, Role.UNIT_ADMIN, "10099")
            assert (await export(other, exam_id))[0] == 403
        async with api_client(exam_server) as nobody:
            assert (await export(nobody, exam_id))[0] == 401

        # Three at once: each is whole (two write at a time, the third waits its turn).
        replies = await asyncio.gather(*(export(admin, exam_id) for _ in range(3)))
        assert [r[0] for r in replies] == [200] * 3
        _, headers, body = replies[0]
        assert headers["Content-Type"] == "application/zip"
        assert "Content-Length" not in headers and headers["Transfer-Encoding"] == "chunked"
        assert (
            disposition_name(headers["Content-Disposition"]) == f"{UNIT_NAME}_钢琴演奏_提交作品.zip"
        )
        archive, top = read_zip(body)
        assert top == f"{UNIT_NAME}_钢琴演奏_提交作品"
        for _, _, other_body in replies[1:]:
            assert sorted(read_zip(other_body)[0].namelist()) == sorted(archive.namelist())

        rows = manifest_rows(archive, top)
        by_kind: dict[str, list[dict[str, str]]] = {}
        for row in rows:
            by_kind.setdefault(row["kind"], []).append(row)
        assert sorted(by_kind) == ["answer_file", "material", "material_text", "recording"]
        assert sorted(r["camera"] for r in by_kind["recording"]) == ["primary", "secondary"]
        manifest = await stored_manifest(exam_server, take_id)
        folder = f"张三_{who.id_number}"
        for row in rows:
            info = archive.getinfo(f"{top}/{row['path']}")
            assert row["path"].startswith(folder + "/")
            assert info.flag_bits & 0x800  # names in UTF-8
            data = archive.read(info)
            assert hashlib.sha256(data).hexdigest() == row["sha256"] and int(row["size"]) == len(
                data
            )
            assert (row["candidate_name"], row["id_number"]) == ("张三", who.id_number)
            if row["kind"] == "recording":
                assert info.compress_type == zipfile.ZIP_STORED
                part = manifest if row["camera"] == "primary" else manifest["cameras"]["secondary"]
                assert row["sha256_recorded"] == part["segments"][0]["sha256"] == row["sha256"]
                assert row["check"] == "verified" and row["question_id"] == "q1"
                assert float(row["duration_s"]) == part["segments"][0]["duration_s"]
                assert float(row["recorded_s"]) == part["recorded_s"]
                assert row["gaps"] == ""  # nothing was lost
                label = "一机位" if row["camera"] == "primary" else "二机位"
                assert row["path"].endswith(f"_{label}.webm")
                codec, frames = await asyncio.to_thread(decoded_frames, data)
                assert codec == "vp8" and frames > 10
            elif row["kind"] == "material_text":
                assert "曲目说明:\n肖邦 练习曲" in data.decode()
            else:
                assert data == PNG and row["check"] == "hashed"
        listed = json.loads(archive.read(f"{top}/manifest.json"))
        assert listed["exam_id"] == exam_id and len(listed["files"]) == len(rows)

        # Verify, don't trust: a recording changed on disk is sent, and flagged.
        primary = manifest["segments"][0]
        path = exam_server.settings.recordings_dir / take_id / primary["file"]
        await asyncio.to_thread(lambda: path.write_bytes(path.read_bytes() + b"tampered"))
        _, _, body = await export(admin, exam_id)
        archive, top = read_zip(body)
        flagged = {r["camera"]: r["check"] for r in manifest_rows(archive, top) if r["camera"]}
        assert flagged == {"primary": "mismatch", "secondary": "verified"}

        ended = await audited(exam_server, Event.SUBMISSIONS_EXPORT_ENDED, 4)
        entries = await exam_server.app[AUDIT].recent(50)
        started = [e for e in entries if e.event is Event.SUBMISSIONS_EXPORTED]
        assert len(started) == len(ended) == 4
        assert all(e.detail["exam_id"] == exam_id for e in started + ended)
        assert all(e.detail["complete"] for e in ended)
        assert ended[0].detail["mismatched"] and ended[0].detail["mismatched"][0].endswith(".webm")
        denied = [e for e in entries if e.event is Event.ACCESS_DENIED]
        assert len(denied) >= 2  # the candidate's and the other unit's


async def test_an_export_the_client_leaves_stops_its_writer(exam_server: RunningServer) -> None:
    async with api_client(exam_server) as admin:
        exam_id = await exam_with_both_kinds(exam_server, admin)
        async with candidate_client(exam_server, UNIT) as c:
            take_id = await answer_both(exam_server, c, exam_id)
        # A recording far larger than what the pipe and the sockets hold (64 MiB).
        segment = (await stored_manifest(exam_server, take_id))["segments"][0]
        path = exam_server.settings.recordings_dir / take_id / segment["file"]

        def grow() -> None:
            with path.open("ab") as f:
                f.truncate(path.stat().st_size + 64 * 1024 * 1024)

        await asyncio.to_thread(grow)
        url = exam_server.url + f"/api/admin/exams/{exam_id}/export"
        async with admin.http.get(url) as response:
            assert response.status == 200
            first = await response.content.read(1024 * 1024)  # then the client goes away
            assert first.startswith(b"PK")
            response.close()
        [entry] = await audited(exam_server, Event.SUBMISSIONS_EXPORT_ENDED, 1)
        assert entry.detail["exam_id"] == exam_id and entry.detail["complete"] is False
        assert entry.detail["bytes"] < 64 * 1024 * 1024  # the writer stopped part-way
        threads = [t.name for t in threading.enumerate() if t.name.startswith("export-")]
        for _ in range(100):  # its thread has resolved the export; now it returns
            if not threads:
                break
            await asyncio.sleep(0.05)
            threads = [t.name for t in threading.enumerate() if t.name.startswith("export-")]
        assert threads == []
