"""``serve --demo`` seeds what a person needs to click through, once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.api import api_client, log_in
from tests.support.server import running_server, server_settings
from web import demo


async def test_demo_seeds_a_unit_an_exam_and_three_people_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(2):  # the second start finds everything and adds nothing
        settings = server_settings(tmp_path / "data", demo=True)
        async with running_server(settings) as server, api_client(server) as admin:
            out = capsys.readouterr().out
            assert demo.CANDIDATE["phone"] in out and demo.ADMIN["phone"] in out
            assert demo.PROCTOR["phone"] in out
            assert demo.PASSWORD in out
            assert (await log_in(admin, demo.ADMIN["phone"], demo.PASSWORD)).status == 200
            exams = (await admin.call("GET", "/api/admin/exams")).body["exams"]
            assert [e["title"] for e in exams] == [demo.EXAM_TITLE]
            exam = (await admin.call("GET", f"/api/admin/exams/{exams[0]['id']}")).body
            modes = [q["mode"] for q in exam["questions"]]
            assert modes == ["online", "online", "offline"]
            listed = await admin.call("GET", f"/api/admin/units/{demo.UNIT_ID}/admitted-list")
            assert listed.status == 200, listed
            async with api_client(server) as proctor:  # assigned to the exam: its wall
                assert (await log_in(proctor, demo.PROCTOR["phone"], demo.PASSWORD)).status == 200
                mine = (await proctor.call("GET", "/api/proctor/exams")).body["exams"]
                assert [e["exam_id"] for e in mine] == [exams[0]["id"]]
                wall = await proctor.call("GET", f"/api/proctor/exams/{exams[0]['id']}/wall")
                assert [t["name"] for t in wall.body["tiles"]] == [demo.CANDIDATE["name"]]
            async with api_client(server) as candidate:
                reply = await log_in(candidate, demo.CANDIDATE["phone"], demo.PASSWORD)
                assert reply.status == 200
                units = (await candidate.call("GET", "/api/units")).status
                assert units in (200, 403)  # 403 until the agreements are accepted
