"""The analysis part of ``examcast bench --analysis``: what the detectors cost, how soon
they alert.

The server's detectors (``media/detectors``: the vision runner's pictures and judging,
the signal runner's once-a-second samples) watch only a take of an exam question. So the
simulated candidates answer one, as real ones do: the operator adds a unit and a unit
admin, the admin imports the admitted list and creates an exam with one online question
(reading time unlimited: recording starts by hand) and assigns a proctor; each candidate
walks the admission journey over HTTP, its device check being the take the bench's
recording window just stored (docs/api.md), verifies for the exam and enters the formal
answer (``POST .../formal``).

Then, ``rounds`` times, a window with the exam's monitoring off (every rule disabled:
the runners watch nothing) and one with it on (the defaults, ``camera_dark`` firing at
once: ``after_s`` 0): the admin sets the exam's monitoring (it may change while the exam
runs; the runners read it when a take starts), every candidate starts a formal take
(``POST .../takes``), the bench waits ``settle_s``, marks the window's start and end
``window_s`` later, then every take is stopped (``POST .../takes/{id}/stop``). In each
window the first ``dark`` candidates' cameras go black (:meth:`PacedTrack.cover`) at a
known moment, spread over one picture interval: the true onset. After the last window a
proctor reads the exam's incidents (``GET /api/proctor/exams/{id}/incidents``): each
``camera_dark`` incident of an on-window take gives ``raised_at`` minus the true onset
(the alert latency, all of it the system's since the rule waits 0 s) and minus its own
``started_at`` (the onset the server saw).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import proctors
from bench.accounts import client, id_number_of, phone_of, signed_in
from bench.clip import Sample
from bench.journey import HttpCall, to_exam_list, verify
from bench.tracks import PacedTrack
from bench.upload_setup import call_json, log_in
from exams.catalog.monitoring import DETECTED, AlertKind

UNIT = "90003"
ADMIN = 8100
PROCTOR = 8101
QUESTION = "q1"
AT_ONCE = 8  # candidates' requests in flight at once
PICTURE_INTERVAL_S = 2.5  # the wall's (media/pictures.py): onsets are spread over one
COVER_AFTER_S = 1.0  # into the window, the first camera goes black
ON = {AlertKind.CAMERA_DARK.value: {"enabled": True, "after_s": 0}}
OFF = {k.value: {"enabled": False} for k in DETECTED}

Phase = Callable[[str], None]


@dataclass(frozen=True)
class AnalysisPlan:
    exam_id: str
    exam: dict[str, Any]  # the exam's body as created (monitoring is replaced per window)
    admin_cookie: str
    proctor_cookie: str
    rounds: int
    window_s: float
    settle_s: float
    dark: int  # candidates whose camera goes black in each window
    black: tuple[Sample, ...]


@dataclass(frozen=True)
class Recorder:
    """One simulated candidate, as the analysis part needs it."""

    index: int
    candidate_id: str  # the account id
    cookie: str
    video: PacedTrack


@dataclass(frozen=True)
class Window:
    mode: str  # "off" or "on"
    start: str  # the phase marking its start
    end: str
    takes: dict[str, str]  # candidate id -> the take recording in the window


@dataclass(frozen=True)
class Injection:
    candidate_id: str
    take_id: str
    onset: float  # time.time() the first black frame was handed to the sender
    mode: str


@dataclass
class AnalysisResult:
    windows: list[Window] = field(default_factory=list)
    injections: list[Injection] = field(default_factory=list)
    incidents: list[dict[str, Any]] = field(default_factory=list)
    streams: int = 0


def exam_body(rounds: int, now: float) -> dict[str, Any]:
    return {
        "title": "Analysis bench",
        "opens_at": now - 60,
        "closes_at": now + 86_400,
        "monitoring": OFF,
        "questions": [
            {
                "id": QUESTION,
                "title": "Play a piece",
                "order": 1,
                "mode": "online",
                "recording_limit_s": 3600,
                "formal_count": 2 * rounds,
            }
        ],
    }


async def seed(
    url: str, data_dir: Path, log: Path, candidates: int, rounds: int
) -> tuple[str, dict[str, Any], str, str]:
    """(exam id, its body, the admin's cookie, the proctor's cookie): an exam of a unit whose
    admitted list has candidates ``0..candidates-1``, a proctor assigned to it."""
    staff = proctors.STAFF_NETWORK
    await asyncio.gather(signed_in(url, ADMIN, log, staff), signed_in(url, PROCTOR, log, staff))
    await proctors._operator("unit-add", UNIT, "Analysis bench unit", data_dir=data_dir)
    await proctors._operator(
        "grant", phone_of(ADMIN), "unit_admin", "--unit", UNIT, data_dir=data_dir
    )
    await proctors._operator("grant", phone_of(PROCTOR), "proctor", data_dir=data_dir)
    body = exam_body(rounds, time.time())
    async with client(ADMIN, staff) as http:
        admin = await log_in(http, url, ADMIN)
        rows = "".join(f"考生,resident_id,{id_number_of(i)}\n" for i in range(candidates))
        await call_json(
            http,
            "POST",
            f"{url}/api/admin/units/{UNIT}/admitted-list",
            admin,
            data=f"name,id_type,id_number\n{rows}".encode(),
            headers={"Content-Type": "text/csv"},
        )
        exam_id = str(
            (await call_json(http, "POST", f"{url}/api/admin/exams", admin, json=body))["id"]
        )
        await call_json(
            http,
            "POST",
            f"{url}/api/admin/exams/{exam_id}/proctors",
            admin,
            json={"phone": phone_of(PROCTOR)},
        )
    async with client(PROCTOR, staff) as http:
        proctor = await log_in(http, url, PROCTOR)
    return exam_id, body, admin, proctor


async def run_analysis(
    plan: AnalysisPlan,
    url: str,
    recorders: list[Recorder],
    on_phase: Phase,
    progress: Callable[[str], None],
    device_takes: dict[int, str],
) -> AnalysisResult:
    """The candidates (sending, their device-check takes ``device_takes`` stored) answer
    the exam's question through the windows; see the module."""
    result = AnalysisResult(streams=len(recorders))
    question = f"/api/exams/{plan.exam_id}/questions/{QUESTION}"
    limit = asyncio.Semaphore(AT_ONCE)
    sessions = {r.index: client(r.index) for r in recorders}
    try:
        calls = {r.index: _call(sessions[r.index], url, r.cookie) for r in recorders}

        async def each(step: Callable[[Recorder], Any]) -> list[Any]:
            async def one(r: Recorder) -> Any:
                async with limit:
                    return await step(r)

            return list(await asyncio.gather(*(one(r) for r in recorders)))

        async def admitted(r: Recorder) -> None:
            call = calls[r.index]

            async def device_take() -> str:
                return device_takes[r.index]

            await to_exam_list(call, id_number_of(r.index), UNIT, device_take)
            await verify(call, id_number_of(r.index), f"exam:{plan.exam_id}")
            await call("POST", question + "/formal")

        await each(admitted)
        progress(f"analysis: {len(recorders)} candidates at the exam's question")
        async with client(ADMIN, proctors.STAFF_NETWORK) as admin:
            for n in range(plan.rounds):
                for mode in ("off", "on"):
                    exam = {**plan.exam, "monitoring": ON if mode == "on" else OFF}
                    await call_json(
                        admin,
                        "POST",
                        f"{url}/api/admin/exams/{plan.exam_id}",
                        plan.admin_cookie,
                        json=exam,
                    )

                    async def start(r: Recorder) -> str:
                        page = await calls[r.index]("POST", question + "/takes", {"kind": "formal"})
                        return str(page["question"]["attempt"]["takes"][-1]["take_id"])

                    take_ids = await each(start)
                    takes = {r.candidate_id: t for r, t in zip(recorders, take_ids, strict=True)}
                    await asyncio.sleep(plan.settle_s)
                    window = Window(mode, f"analysis_{mode}{n}", f"analysis_{mode}{n}_end", takes)
                    on_phase(window.start)
                    begun = time.monotonic()
                    covered = await _cover(plan, recorders[: plan.dark], begun)
                    await asyncio.sleep(max(0.0, begun + plan.window_s - time.monotonic()))
                    on_phase(window.end)
                    for r in covered:
                        r.video.uncover()
                        if r.video.covered_at is not None:
                            result.injections.append(
                                Injection(
                                    r.candidate_id, takes[r.candidate_id], r.video.covered_at, mode
                                )
                            )
                    result.windows.append(window)
                    progress(
                        f"analysis: window {mode} {n + 1}/{plan.rounds} measured "
                        f"({len(covered)} camera(s) went black)"
                    )

                    async def stop(r: Recorder, takes: dict[str, str] = takes) -> None:
                        await calls[r.index](
                            "POST", f"{question}/takes/{takes[r.candidate_id]}/stop"
                        )

                    await each(stop)
        async with client(PROCTOR, proctors.STAFF_NETWORK) as http:
            timeline = await call_json(
                http,
                "GET",
                f"{url}/api/proctor/exams/{plan.exam_id}/incidents",
                plan.proctor_cookie,
            )
        result.incidents = list(timeline.get("incidents", []))
    finally:
        await asyncio.gather(*(s.close() for s in sessions.values()))
    return result


async def _cover(plan: AnalysisPlan, recorders: list[Recorder], begun: float) -> list[Recorder]:
    """Cover each camera at its moment: onsets spread over one picture interval."""
    done = []
    for i, r in enumerate(recorders):
        at = begun + COVER_AFTER_S + i * PICTURE_INTERVAL_S / max(1, len(recorders))
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        r.video.cover(plan.black)
        done.append(r)
    return done


def _call(http: Any, url: str, cookie: str) -> HttpCall:
    call = HttpCall(http, url, keep_cookie=True)
    for part in cookie.split(";"):
        name, _, value = part.strip().partition("=")
        if name:
            call.cookies[name] = value
    return call
