"""Resumable uploads (tus 1.0) against a real server: tusd's checklist, the question's rules,
who may touch an upload, and the grace after the exam (M3.6, M4)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support import files
from tests.support.api import ApiClient, api_client
from tests.support.clock import wait_until
from tests.support.exams import (
    offline_question,
    online_question,
    through_journey,
    verify_for_exam,
)
from tests.support.server import RunningServer, api_server_fixture, api_settings, running_server
from tests.support.tus import (
    KIB,
    Tus,
    about,
    candidate_at,
    chunk,
    files_of,
    metadata,
    q,
    raw_patch,
    restart_url,
    sha1_header,
    status_line,
    upload_id,
)
from web.keys import METRICS

pytestmark = pytest.mark.both_databases  # the records on SQLite and on PostgreSQL

VIDEO = files.mp4(frames=30, width=320, height=240, noise=True)  # about 1.8 MB


server = api_server_fixture(reconnect_grace_s=120, upload_idle_s=1)


def tus_files(server: RunningServer) -> list[str]:
    folder = server.settings.tus_dir
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


async def test_options_tell_what_the_server_supports(server: RunningServer) -> None:
    async with api_client(server) as client:
        reply = await client.call("OPTIONS", "/api/uploads/")
    assert reply.status == 204
    assert reply.headers["Tus-Version"] == "1.0.0"
    assert reply.headers["Tus-Resumable"] == "1.0.0"
    extensions = set(reply.headers["Tus-Extension"].split(","))
    assert extensions == {
        "creation",
        "creation-with-upload",
        "expiration",
        "checksum",
        "termination",
    }
    assert "sha1" in reply.headers["Tus-Checksum-Algorithm"].split(",")
    assert int(reply.headers["Tus-Max-Size"]) == server.settings.upload_max_bytes


async def test_a_file_arrives_in_pieces_and_becomes_a_file_of_the_answer(
    server: RunningServer,
) -> None:
    async with api_client(server) as admin, api_client(server) as client:
        exam_id, _ = await candidate_at(server, admin, client)
        tus = Tus(client)
        meta = about(exam_id, device_id="d1", device_name="PC")
        created = await tus.create(len(VIDEO), **meta)
        assert created.status == 201, created
        url = created.headers["Location"]
        assert url.startswith("/api/uploads/") and created.headers["Upload-Offset"] == "0"
        assert created.headers["Upload-Expires"].endswith("GMT")
        [pending] = await files_of(client, exam_id)
        assert pending["pending"] is True and pending["name"] == "演奏.mp4"
        assert pending["file_id"] == upload_id(url) and pending["size"] == len(VIDEO)
        head = await tus.head(url)
        assert head.status == 200 and head.headers["Upload-Offset"] == "0"
        assert head.headers["Upload-Length"] == str(len(VIDEO))
        assert head.headers["Upload-Metadata"] == metadata(**meta)
        assert head.headers["Cache-Control"] == "no-store"
        saved = await client.call("POST", q(exam_id) + "/save")
        assert saved.status == 200  # a draft with a file still arriving
        last = await tus.send_all(url, VIDEO, 512 * KIB)
        assert last.headers["Upload-Offset"] == str(len(VIDEO))
        [done] = await files_of(client, exam_id)
        assert done["pending"] is False and done["kind"] == "video"
        assert (await tus.head(url)).headers["Upload-Offset"] == str(len(VIDEO))
        assert tus_files(server) == []  # moved among the answer's files
        submitted = await client.call("POST", q(exam_id) + "/submit")
        assert submitted.body["question"]["phase"] == "submitted"
        rows = (await admin.call("GET", f"/api/admin/exams/{exam_id}/submissions")).body
        download = await admin.call("GET", rows["submissions"][0]["files"][0]["url"])
        assert download.status == 200 and download.body == VIDEO


async def test_creation_with_upload_and_checksums(server: RunningServer) -> None:
    async with api_client(server) as admin, api_client(server) as client:
        exam_id, _ = await candidate_at(server, admin, client)
        tus = Tus(client)
        first = VIDEO[: 256 * KIB]
        created = await tus.create(
            len(VIDEO),
            body=first,
            headers={"Upload-Checksum": sha1_header(first)},
            **about(exam_id),
        )
        assert created.status == 201 and created.headers["Upload-Offset"] == str(len(first))
        url = created.headers["Location"]
        piece = VIDEO[len(first) : len(first) + 256 * KIB]
        wrong = await tus.patch(
            url, len(first), piece, {"Upload-Checksum": sha1_header(piece + b"x")}
        )
        assert wrong.status == 460 and wrong.code == "checksum_mismatch"
        assert await tus.offset(url) == len(first)  # nothing of it appended
        unknown = await tus.patch(url, len(first), piece, {"Upload-Checksum": "crc32 AAAA"})
        assert unknown.status == 400
        right = await tus.patch(url, len(first), piece, {"Upload-Checksum": sha1_header(piece)})
        assert right.status == 204
        assert right.headers["Upload-Offset"] == str(len(first) + len(piece))


async def test_tusd_checklist(server: RunningServer) -> None:
    """Offset mismatch 409, wrong content type 415, over length 413, no version 412."""
    async with api_client(server) as admin, api_client(server) as client:
        exam_id, _ = await candidate_at(server, admin, client)
        tus = Tus(client)
        url = (await tus.create(len(VIDEO), **about(exam_id))).headers["Location"]
        assert (await tus.patch(url, 0, VIDEO[: 100 * KIB])).status == 204
        behind = await tus.patch(url, 0, VIDEO[: 10 * KIB])
        assert behind.status == 409 and behind.code == "offset_mismatch"
        assert behind.body["error"]["details"]["offset"] == 100 * KIB
        ahead = await tus.patch(url, 200 * KIB, VIDEO[200 * KIB : 210 * KIB])
        assert ahead.status == 409
        typed = await tus.patch(
            url, 100 * KIB, VIDEO[100 * KIB : 110 * KIB], {"Content-Type": "application/json"}
        )
        assert typed.status == 415 and typed.headers["Tus-Resumable"] == "1.0.0"
        longer = await tus.patch(url, 100 * KIB, VIDEO[100 * KIB :] + b"extra")
        assert longer.status == 413
        old = await client.call(
            "PATCH",
            url,
            data=b"x",
            headers={
                "Upload-Offset": str(100 * KIB),
                "Content-Type": "application/offset+octet-stream",
            },
        )
        assert old.status == 412 and old.headers["Tus-Version"] == "1.0.0"
        no_version_head = await client.call("HEAD", url)
        assert no_version_head.status == 412
        assert await tus.offset(url) == 100 * KIB  # none of the refused bodies left a byte
        bad_length = await tus.create(-1, **about(exam_id))
        assert bad_length.status == 400


async def test_a_body_cut_off_keeps_what_arrived(server: RunningServer) -> None:
    async with api_client(server) as admin, api_client(server) as client:
        exam_id, _ = await candidate_at(server, admin, client)
        tus = Tus(client)
        url = (await tus.create(len(VIDEO), **about(exam_id))).headers["Location"]
        half = len(VIDEO) // 2
        _, writer = await raw_patch(client, url, 0, len(VIDEO))
        writer.write(VIDEO[:half])
        await writer.drain()
        writer.close()  # the phone lost its network
        await eventually_offset(tus, url, half)
        rest = await tus.send_all(url, VIDEO, 1024 * KIB, start=half)
        assert rest.headers["Upload-Offset"] == str(len(VIDEO))
        stored = await stored_file(server, client, exam_id)
        assert hashlib.sha256(stored).digest() == hashlib.sha256(VIDEO).digest()


async def test_a_newer_patch_takes_over_a_hanging_one(server: RunningServer) -> None:
    async with api_client(server) as admin, api_client(server) as client:
        exam_id, _ = await candidate_at(server, admin, client)
        tus = Tus(client)
        url = (await tus.create(len(VIDEO), **about(exam_id))).headers["Location"]
        third = len(VIDEO) // 3
        reader, writer = await raw_patch(client, url, 0, len(VIDEO))
        writer.write(VIDEO[:third])
        await writer.drain()  # ... and then nothing more: the connection hangs
        await eventually_offset(tus, url, third)  # the older request holds it, all written
        newer = await tus.patch(url, third, VIDEO[third:])
        assert newer.status == 204, newer
        assert await status_line(reader) == 409  # cut off: upload_interrupted
        writer.close()
        stored = await stored_file(server, client, exam_id)
        assert stored == VIDEO


async def test_two_patches_at_once_one_wins_and_no_byte_is_lost(server: RunningServer) -> None:
    async with api_client(server) as admin, api_client(server) as client:
        exam_id, _ = await candidate_at(server, admin, client)
        tus = Tus(client)
        url = (await tus.create(len(VIDEO), **about(exam_id))).headers["Location"]
        replies = await asyncio.gather(*(tus.patch(url, 0, VIDEO) for _ in range(2)))
        statuses = sorted(r.status for r in replies)
        assert statuses.count(204) <= 1 and set(statuses) <= {204, 409}, replies
        offset = await tus.offset(url)
        if offset < len(VIDEO):
            await tus.send_all(url, VIDEO, 1024 * KIB, start=offset)
        assert await stored_file(server, client, exam_id) == VIDEO


async def test_a_patch_cut_off_after_its_last_byte_still_completes(tmp_path: Path) -> None:
    """Two PATCHes at once, the second placed where they race: the first has read every
    byte and waits for its body's end when the second cuts it off (under load it waits there
    on its previous write). The file ends stored, once: before, neither request completed it
    and HEAD said every byte was there, so a client sent nothing more; it stayed pending
    until the next sweep, or was lost if its time ran out first."""
    settings = api_settings(tmp_path / "data", reconnect_grace_s=120, upload_idle_s=30)
    async with (
        running_server(settings) as server,
        api_client(server) as admin,
        api_client(server) as client,
    ):
        exam_id, _ = await candidate_at(server, admin, client)
        tus = Tus(client)
        url = (await tus.create(len(VIDEO), **about(exam_id))).headers["Location"]
        reader, writer = await raw_patch(client, url, 0, None)
        writer.write(chunk(VIDEO))  # every byte; the chunked body's end not yet
        await writer.drain()
        await wait_until(lambda: tus_bytes_read(server) == len(VIDEO), what="every byte read")
        second = await tus.patch(url, 0, VIDEO)
        assert (second.status, second.code) == (409, "offset_mismatch"), second
        assert second.body["error"]["details"]["offset"] == len(VIDEO)
        assert await stored_file(server, client, exam_id) == VIDEO
        assert await status_line(reader) == 204  # it brought every byte: it completed them
        writer.close()
        assert await tus.offset(url) == len(VIDEO) and tus_files(server) == []


@pytest.mark.parametrize("then", ["head", "patch", "restart"])
async def test_every_byte_there_completes_at_the_next_request(
    server: RunningServer, then: str
) -> None:
    """The request that wrote the last byte ended before completing the file (cancelled,
    the process stopped): the next HEAD, PATCH or restart completes it, before a client told
    that every byte is there stops sending, rather than at the next sweep (maybe too late)."""
    async with api_client(server) as admin, api_client(server) as client:
        exam_id, _ = await candidate_at(server, admin, client)
        tus = Tus(client)
        url = (await tus.create(len(VIDEO), **about(exam_id))).headers["Location"]
        data = server.settings.tus_dir / upload_id(url)
        await asyncio.to_thread(data.write_bytes, VIDEO)  # as if its PATCH died after it
        if then == "head":
            assert await tus.offset(url) == len(VIDEO)
        elif then == "patch":
            again = await tus.patch(url, 0, VIDEO)  # a retry of the whole file
            assert (again.status, again.body["error"]["details"]) == (409, {"offset": len(VIDEO)})
        else:
            again = await client.call("POST", restart_url(url), headers={"Tus-Resumable": "1.0.0"})
            assert (again.status, again.code) == (409, "conflict"), again
        assert await stored_file(server, client, exam_id) == VIDEO
        assert tus_files(server) == []


def tus_bytes_read(server: RunningServer) -> float:
    """Bytes the server has read from tus request bodies (its upload_bytes counter)."""
    metrics = server.app[METRICS].registry
    return metrics.get_sample_value("examcast_upload_bytes_total", {"kind": "tus"}) or 0.0


async def test_a_stalled_body_is_ended_and_shown_interrupted(server: RunningServer) -> None:
    async with api_client(server) as admin, api_client(server) as client:
        exam_id, _ = await candidate_at(server, admin, client)
        tus = Tus(client)
        meta = about(exam_id, device_id="phone-1", device_name="Xiaomi MI 5")
        url = (await tus.create(len(VIDEO), **meta)).headers["Location"]
        reader, writer = await raw_patch(client, url, 0, len(VIDEO))
        writer.write(VIDEO[: 64 * KIB])
        await writer.drain()
        listing = await client.call("GET", f"/api/exams/{exam_id}/uploads?device_id=phone-1")
        [mine] = listing.body["this_device"]
        assert mine["state"] == "uploading"
        assert await status_line(reader, timeout=5) == 409  # nothing for upload_idle_s: ended
        writer.close()
        assert await tus.offset(url) == 64 * KIB
        listing = await client.call("GET", f"/api/exams/{exam_id}/uploads?device_id=phone-1")
        [mine] = listing.body["this_device"]
        assert (mine["state"], mine["offset"], mine["length"]) == (
            "interrupted",
            64 * KIB,
            len(VIDEO),
        )


async def test_unfinished_uploads_of_this_device_and_others(server: RunningServer) -> None:
    async with api_client(server) as admin, api_client(server) as client:
        exam_id, who = await candidate_at(
            server, admin, client, offline_question(max_bytes=4 * KIB * KIB, max_count=3)
        )
        async with api_client(server) as phone:
            assert (
                await phone.call(
                    "POST", "/api/session", {"phone": who.phone, "password": "correct horse"}
                )
            ).status == 200
            pc, mobile = Tus(client), Tus(phone)
            here = about(exam_id, "a.mp4", device_id="pc-1", device_name="Windows · Chrome")
            there = about(exam_id, "b.mp4", device_id="phone-1", device_name="Xiaomi MI 5")
            mine = (await pc.create(len(VIDEO), **here)).headers["Location"]
            theirs = (await mobile.create(len(VIDEO), **there)).headers["Location"]
            await mobile.patch(theirs, 0, VIDEO[: 100 * KIB])
            done = (await pc.create(len(VIDEO), **here | {"filename": "c.mp4"})).headers["Location"]
            await pc.send_all(done, VIDEO, 2048 * KIB)  # finished: not listed
            await pc.patch(mine, 0, VIDEO[: 300 * KIB])
            listing = await client.call("GET", f"/api/exams/{exam_id}/uploads?device_id=pc-1")
        body = listing.body
        assert body["upload_deadline"] == pytest.approx(body["now"] + 3600 + 7200, abs=60)
        [row] = body["this_device"]
        assert (row["url"], row["name"], row["offset"], row["length"]) == (
            mine,
            "a.mp4",
            300 * KIB,
            len(VIDEO),
        )
        assert row["state"] == "uploading" and row["question_id"] == "q9"
        assert body["other_devices"] == [
            {"device_name": "Xiaomi MI 5", "files": [{"name": "b.mp4", "question_id": "q9"}]}
        ]


async def test_file_names_never_become_paths(server: RunningServer) -> None:
    async with api_client(server) as admin, api_client(server) as client:
        exam_id, _ = await candidate_at(server, admin, client)
        tus = Tus(client)
        for name in ("../../../etc/passwd.png", "a/b.png", "..\\x.png", "..", "a\x00.png"):
            refused = await tus.create(1000, **about(exam_id, name))
            assert refused.status == 400, (name, refused)
        assert await files_of(client, exam_id) == [] and tus_files(server) == []
        ok = await tus.create(len(files.png()), **about(exam_id, "..乐谱.png"))
        assert ok.status == 201
        [name] = tus_files(server)
        assert len(name) == 32 and set(name) <= set("0123456789abcdef")


async def test_files_the_rules_refuse(server: RunningServer) -> None:
    async with api_client(server) as admin, api_client(server) as client:
        rule = offline_question(max_bytes=4 * KIB * KIB, max_count=1, min_bytes=100)
        exam_id, _ = await candidate_at(server, admin, client, rule)
        tus = Tus(client)
        big = await tus.create(4 * KIB * KIB + 1, **about(exam_id))
        assert big.status == 413 and big.code == "too_large"
        huge = await tus.create(server.settings.upload_max_bytes + 1, **about(exam_id))
        assert huge.status == 413
        small = await tus.create(10, **about(exam_id))
        assert small.status == 400
        exe = await tus.create(1000, **about(exam_id, "setup.exe"))
        assert exe.status == 415
        # the content is checked as soon as its first bytes are there
        renamed = files.wav() * 20
        url = (await tus.create(len(renamed), **about(exam_id, "renamed.mp4"))).headers["Location"]
        first = await tus.patch(url, 0, renamed[: 8 * KIB])
        assert first.status == 415 and first.code == "unsupported_media_type"
        assert (await tus.head(url)).status == 410 and tus_files(server) == []
        assert await files_of(client, exam_id) == []
        # and all of it when the last byte arrives
        fake = b"\x00\x00\x00\x18ftypmp42" + bytes(8 * KIB)
        url = (await tus.create(len(fake), **about(exam_id, "fake.mp4"))).headers["Location"]
        refused = await tus.patch(url, 0, fake)
        assert refused.status == 415 and "could not be read" in refused.body["error"]["message"]
        assert await files_of(client, exam_id) == [] and tus_files(server) == []
        answer_files = list(server.settings.uploads_dir.rglob("*.mp4"))
        assert answer_files == []  # nothing of a refused file is kept
        one = await tus.create(len(VIDEO), **about(exam_id))
        assert one.status == 201
        two = await tus.create(len(VIDEO), **about(exam_id, "second.mp4"))
        assert two.status == 409 and two.code == "conflict"  # one file at most


async def test_another_candidate_finds_nothing(server: RunningServer) -> None:
    async with (
        api_client(server) as admin,
        api_client(server) as alice,
        api_client(server) as bob,
    ):
        exam_id, _ = await candidate_at(server, admin, alice)
        bob_account = await through_journey(server, bob, "10001")
        await verify_for_exam(bob, bob_account, exam_id)
        url = (await Tus(alice).create(len(VIDEO), **about(exam_id))).headers["Location"]
        thief = Tus(bob)
        assert (await thief.head(url)).status == 404
        assert (await thief.patch(url, 0, VIDEO[:1000])).status == 404
        assert (await thief.delete(url)).status == 404
        assert await Tus(alice).offset(url) == 0
        async with api_client(server) as nobody:
            assert (await Tus(nobody).head(url)).status == 401


async def test_termination_removes_the_file_until_the_answer_is_submitted(
    server: RunningServer,
) -> None:
    async with api_client(server) as admin, api_client(server) as client:
        exam_id, _ = await candidate_at(server, admin, client)
        tus = Tus(client)
        url = (await tus.create(len(VIDEO), **about(exam_id))).headers["Location"]
        await tus.patch(url, 0, VIDEO[: 100 * KIB])
        assert (await tus.delete(url)).status == 204
        assert (await tus.head(url)).status == 404
        assert await files_of(client, exam_id) == [] and tus_files(server) == []
        url = (await tus.create(len(VIDEO), **about(exam_id))).headers["Location"]
        removed = await client.call("DELETE", q(exam_id) + f"/files/{upload_id(url)}")
        assert removed.status == 200 and tus_files(server) == []
        assert (await tus.head(url)).status == 404
        url = (await tus.create(len(VIDEO), **about(exam_id))).headers["Location"]
        assert (await client.call("POST", q(exam_id) + "/submit")).status == 200
        kept = await tus.delete(url)
        assert kept.status == 409  # a submitted file stays


async def test_a_material_file_of_an_online_answer(server: RunningServer) -> None:
    material = {"kind": "image", "key": "score", "max_count": 1, "max_bytes": 64 * KIB}
    async with api_client(server) as admin, api_client(server) as client:
        exam_id, _ = await candidate_at(
            server, admin, client, online_question(materials=[material | {"formats": ["png"]}])
        )
        tus = Tus(client)
        meta: dict[str, Any] = {"filename": "乐谱.png", "exam_id": exam_id, "question_id": "q1"}
        early = await tus.create(len(files.png()), material="score", **meta)
        assert early.status == 409  # the formal answer comes first
        await client.call("POST", q(exam_id, "q1") + "/formal")
        created = await tus.create(len(files.png()), material="score", **meta)
        assert created.status == 201, created
        await tus.send_all(created.headers["Location"], files.png(), 64 * KIB)
        page = await client.call("GET", q(exam_id, "q1"))
        [score] = page.body["question"]["attempt"]["materials"]
        assert score["key"] == "score" and score["file"]["pending"] is False


async def test_uploads_of_a_submitted_answer_complete_until_the_grace_ends(
    server: RunningServer,
) -> None:
    """A file may be submitted while it uploads (M3.7); its bytes may arrive until the exam
    end plus the upload grace (M4.1), then the upload is expired (410)."""
    async with api_client(server) as admin, api_client(server) as client:
        closes = server.now() + 12
        exam_id, _ = await candidate_at(
            server,
            admin,
            client,
            offline_question(max_bytes=4 * KIB * KIB, max_count=3),
            closes_at=closes,
            upload_grace_s=3,
        )
        tus = Tus(client)
        urls = [
            (await tus.create(len(VIDEO), **about(exam_id, f"{n}.mp4"))).headers["Location"]
            for n in range(2)
        ]
        submitted = await client.call("POST", q(exam_id) + "/submit")
        assert submitted.status == 200, submitted
        assert [f["pending"] for f in submitted.body["question"]["attempt"]["files"]] == [
            True,
            True,
        ]
        server.advance(closes - server.now() + 0.2)  # the exam has ended
        head = await tus.head(urls[0])
        expires = head.headers["Upload-Expires"]
        assert head.status == 200 and expires.endswith("GMT")
        await tus.send_all(urls[0], VIDEO, 2048 * KIB)  # within the grace
        server.advance(closes + 3 - server.now() + 0.2)  # the grace is over
        assert (await tus.head(urls[1])).status == 410
        late = await tus.patch(urls[1], 0, VIDEO[:1000])
        assert late.status == 410 and late.code == "upload_expired"
        assert (await tus.head(urls[0])).status == 200  # complete stays complete


async def test_an_unsubmitted_answers_uploads_end_with_its_submission_time(
    server: RunningServer,
) -> None:
    async with api_client(server) as admin, api_client(server) as client:
        exam_id, _ = await candidate_at(
            server, admin, client, offline_question(max_bytes=4 * KIB * KIB, submission_limit_s=2)
        )
        tus = Tus(client)
        url = (await tus.create(len(VIDEO), **about(exam_id))).headers["Location"]
        server.advance(2.2)
        assert (await tus.patch(url, 0, VIDEO[:1000])).status == 410


async def test_the_single_request_upload_checks_content_too(server: RunningServer) -> None:
    async with api_client(server) as admin, api_client(server) as client:
        exam_id, _ = await candidate_at(server, admin, client)
        fake = b"\x00\x00\x00\x18ftypmp42" + bytes(2048)
        refused = await client.call("POST", q(exam_id) + "/files?name=a.mp4", data=fake)
        assert refused.status == 415
        big = files.png_header(30_000, 20)
        wide = await client.call("POST", q(exam_id) + "/files?name=a.png", data=big)
        assert wide.status == 415 and "30000x20" in wide.body["error"]["message"]
        stored = await client.call("POST", q(exam_id) + "/files?name=a.png", data=files.png())
        assert stored.status == 201


async def eventually_offset(tus: Tus, url: str, expected: int, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while (offset := await tus.offset(url)) != expected:
        assert time.monotonic() < deadline, f"offset {offset}, not {expected}"
        await asyncio.sleep(0.05)


async def stored_file(server: RunningServer, client: ApiClient, exam_id: str) -> bytes:
    [f] = await files_of(client, exam_id)
    assert f["pending"] is False, f
    page = await client.call("GET", q(exam_id))
    attempt_id = page.body["question"]["attempt"]["attempt_id"]
    path = server.settings.uploads_dir / attempt_id / f"{f['file_id']}.{f['format']}"
    return await asyncio.to_thread(path.read_bytes)


async def test_the_sweep_expires_completes_and_clears(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Every ``upload_sweep_s``: an expired upload's bytes go and its pending file leaves
    the answer; an upload whose every byte is on disk (a crash came before it was checked)
    is completed; bytes without an upload are removed. The sweep runs on the server's
    clock: the test moves it instead of waiting."""
    settings = api_settings(tmp_path / "data", reconnect_grace_s=120, upload_sweep_s=30)
    async with (
        running_server(settings) as server,
        api_client(server) as admin,
        api_client(server) as client,
    ):
        exam_id, _ = await candidate_at(
            server,
            admin,
            client,
            offline_question("q9", max_bytes=4 * KIB * KIB, max_count=3, submission_limit_s=60),
        )
        tus = Tus(client)
        late = (await tus.create(len(VIDEO), **about(exam_id, "late.mp4"))).headers["Location"]
        await tus.patch(late, 0, VIDEO[: 64 * KIB])
        whole = (await tus.create(len(VIDEO), **about(exam_id, "whole.mp4"))).headers["Location"]
        data = server.settings.tus_dir / upload_id(whole)
        await asyncio.to_thread(data.write_bytes, VIDEO)  # as if the last PATCH's 204 was lost
        stray = server.settings.tus_dir / ("ab" * 16)
        await asyncio.to_thread(stray.write_bytes, b"left by a crash")

        async def names() -> dict[str, bool]:
            return {f["name"]: f["pending"] for f in await files_of(client, exam_id)}

        async def whole_completed_and_stray_cleared() -> bool:
            return (await names()).get("whole.mp4") is False and not stray.exists()

        async def only_whole_left() -> bool:
            return await names() == {"whole.mp4": False}

        def swept() -> bool:  # logged as the sweep ends, just before its next is scheduled
            return any(r.getMessage().startswith("upload sweep:") for r in caplog.records)

        # Completed and cleared by the next sweep (the late one expires later).
        caplog.set_level(logging.INFO, logger="web.bootstrap")
        server.advance(30)
        await wait_until(whole_completed_and_stray_cleared, timeout=15)
        # The next sweep is due 30 s after this one *ends*: moving the time before it has
        # ended would put the next one 30 s after the move, never reached here.
        await wait_until(swept, timeout=15)
        server.advance(40)  # its submission time is over: the unfinished one expires ...
        await wait_until(only_whole_left, timeout=15)  # ... at the next sweep, now due
        assert (await tus.head(late)).status == 410
        assert tus_files(server) == []


async def test_a_lost_file_of_a_submitted_answer_is_sent_again_from_the_start(
    server: RunningServer,
) -> None:
    """文件异常 after submitting: the browser lost the file; a copy of it is sent again from
    byte 0 (what had arrived is deleted), the answer's file stays the same file."""
    async with api_client(server) as admin, api_client(server) as client:
        exam_id, _ = await candidate_at(
            server, admin, client, offline_question(max_bytes=4 * KIB * KIB)
        )
        tus = Tus(client)
        url = (await tus.create(len(VIDEO), **about(exam_id))).headers["Location"]
        await tus.send_all(url, VIDEO[: 512 * KIB], 256 * KIB)
        assert (await client.call("POST", q(exam_id) + "/submit")).status == 200
        [before] = await files_of(client, exam_id)

        again = await client.call("POST", restart_url(url), headers={"Tus-Resumable": "1.0.0"})
        assert again.status == 204, again
        assert again.headers["Upload-Offset"] == "0" and "Upload-Expires" in again.headers
        assert await tus.offset(url) == 0

        # A restart racing a PATCH: one of them wins, no byte is out of place.
        for _ in range(3):
            restart, patch = await asyncio.gather(
                client.call("POST", restart_url(url), headers={"Tus-Resumable": "1.0.0"}),
                tus.patch(url, 0, VIDEO[: 256 * KIB]),
            )
            assert restart.status in (204, 423), restart
            assert patch.status in (204, 409), patch
            offset = await tus.offset(url)
            assert offset in (0, 256 * KIB), offset
            assert (server.settings.tus_dir / upload_id(url)).read_bytes() == VIDEO[:offset]
            if offset:
                reset = await client.call(
                    "POST", restart_url(url), headers={"Tus-Resumable": "1.0.0"}
                )
                assert reset.status == 204, reset

        await tus.send_all(url, VIDEO, 1024 * KIB)
        [after] = await files_of(client, exam_id)
        assert (after["file_id"], after["name"], after["pending"]) == (
            before["file_id"],
            before["name"],
            False,
        )
        page = await client.call("GET", q(exam_id))
        attempt_id = page.body["question"]["attempt"]["attempt_id"]
        stored = server.settings.uploads_dir / attempt_id / f"{after['file_id']}.mp4"
        assert hashlib.sha256(stored.read_bytes()).digest() == hashlib.sha256(VIDEO).digest()
        done = await client.call("POST", restart_url(url), headers={"Tus-Resumable": "1.0.0"})
        assert (done.status, done.code) == (409, "conflict")

    async with api_client(server) as other:
        await through_journey(server, other, "10001")
        theirs = await other.call("POST", restart_url(url), headers={"Tus-Resumable": "1.0.0"})
        assert theirs.status == 404
