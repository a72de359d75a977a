"""A take keeps the quality report its recorder wrote into the manifest at stop (issue #18):
on the take (``Take.quality``, its own column) and in the manifest under ``quality``; a take
whose recorder wrote none keeps ``None``. The real database (SQLite and PostgreSQL), the
recorder a stand-in (real media: tests/integration/test_quality_report.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from storage.takes import SqliteTakes
from tests.support.world import World
from tests.unit.exams.catalog.test_take_nodes import OWNER, Recorder, service

REPORT = {"version": 1, "duration_s": 5.0, "lost_s": 0.0, "cameras": {}}


@dataclass
class Reporting(Recorder):
    async def stop(self, take_id: str) -> dict[str, Any]:
        return {**await super().stop(take_id), "quality": REPORT}


async def test_the_report_the_recorder_wrote_is_stored_on_the_take(w: World) -> None:
    takes = service(w, "node-a", recorder=Reporting())
    started = await takes.start(OWNER, "s1", "formal")
    assert started.quality is None and started.summary()["quality"] is None
    stored = await takes.stop(started.id)
    assert stored.quality == REPORT and stored.manifest is not None
    assert stored.manifest["quality"] == REPORT
    found = await SqliteTakes(w.db).get(started.id)
    assert found is not None and found.quality == REPORT
    assert found.summary()["quality"] == REPORT


async def test_a_take_without_a_report_keeps_none(w: World) -> None:
    takes = service(w, "node-a")
    stored = await takes.stop((await takes.start(OWNER, "s1", "formal")).id)
    assert stored.quality is None
    found = await SqliteTakes(w.db).get(stored.id)
    assert found is not None and found.quality is None
