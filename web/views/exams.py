"""The candidate's exams (M3.1-M3.4): exam list, question list, and the steps of an answer.

Every page carries the server's ``now`` and absolute deadlines, so a page shows
correct countdowns whatever its own clock says. Takes are recorded by the
server from the candidate's primary camera session (Socket.IO); these calls
start and stop them, and the socket's ``stop_take`` updates the answer too.
"""

from __future__ import annotations

from aiohttp import web

from exams.catalog.attempts import TakeKind
from web.keys import ANSWERING
from web.openapi import BODY, Api
from web.schema import loose, obj, string
from web.views.common import TIME, TIME_OR_NULL, caller

api = Api("exams")

Q = "/api/exams/{exam_id}/questions/{question_id}"
EXAM = loose(
    "an exam",
    exam_id={"type": "string"},
    title={"type": "string"},
    instructions={"type": "string"},
    time_requirements={"type": "string", "description": "考试时间要求, as the unit words it"},
    opens_at=TIME,
    closes_at=TIME,
    upload_deadline=TIME,
    state={"type": "string", "enum": ["upcoming", "open", "closed"]},
)
ATTEMPT = loose(
    "the candidate's answer to a question, with its server deadlines",
    attempt_id={"type": "string"},
    submission_deadline=TIME_OR_NULL,
    reading={
        "type": ["object", "null"],
        "description": "kind, began_at, deadline (null: start by hand)",
    },
    recording={"type": ["object", "null"], "description": "the take being recorded"},
    takes={"type": "array", "items": {"type": "object"}},
    rehearsals={"type": "object", "description": "allowed, used, remaining"},
    formal={"type": "object", "description": "allowed, used, remaining"},
    chosen_take_id={"type": ["string", "null"]},
    materials={"type": "array", "items": {"type": "object"}},
    files={"type": "array", "items": {"type": "object"}},
    submitted_at=TIME_OR_NULL,
    submitted_by={"type": ["string", "null"], "enum": ["candidate", "auto", None]},
    closed_at=TIME_OR_NULL,
    next_action={"type": ["object", "null"], "description": "what the server does next, and when"},
)
QUESTION = loose(
    "a question, its settings and the candidate's answer",
    question_id={"type": "string"},
    title={"type": "string"},
    prompt={"type": "string"},
    order={"type": "integer"},
    mode={"type": "string", "enum": ["online", "offline"]},
    settings={"type": "object", "description": "the question's settings (M3.2, M3.6)"},
    phase={
        "type": "string",
        "enum": ["not_started", "reading", "recording", "answering", "submitted", "closed"],
    },
    attempt={"anyOf": [ATTEMPT, {"type": "null"}]},
)
PAGE = loose("a question page", now=TIME, exam=EXAM, question=QUESTION)
STEP_ERRORS = (401, 403, 404, 409)


def _ids(request: web.Request) -> tuple[str, str]:
    return request.match_info["exam_id"], request.match_info["question_id"]


@api.get(
    "/api/exams",
    summary="Your unit's exams: window, instructions, time requirements, verified, finished",
    auth="candidate",
    response=loose(
        "the exam list",
        now=TIME,
        unit_id={"type": "string"},
        exams={"type": "array", "items": EXAM},
    ),
    errors=(401, 403),
)
async def exam_list(request: web.Request) -> web.Response:
    who = caller(request)
    return web.json_response(await request.app[ANSWERING].exams(who))


@api.get(
    "/api/exams/{exam_id}",
    summary="An exam's question list (after real-person verification for this exam)",
    auth="candidate",
    response=loose(
        "the question list",
        now=TIME,
        exam=EXAM,
        finished={"type": "boolean", "description": "every question submitted"},
        questions={"type": "array", "items": QUESTION},
    ),
    errors=(401, 403, 404),
)
async def exam_page(request: web.Request) -> web.Response:
    who = caller(request)
    return web.json_response(await request.app[ANSWERING].exam(who, request.match_info["exam_id"]))


@api.get(
    Q,
    summary="One question and your answer to it",
    auth="candidate",
    response=PAGE,
    errors=STEP_ERRORS,
)
async def question(request: web.Request) -> web.Response:
    who = caller(request)
    return web.json_response(await request.app[ANSWERING].question(who, *_ids(request)))


@api.post(
    Q + "/open",
    summary="Open an offline question (线下录制): its submission time starts now",
    auth="candidate",
    response=PAGE,
    errors=(400, *STEP_ERRORS),
)
async def open_question(request: web.Request) -> web.Response:
    who = caller(request)
    return web.json_response(await request.app[ANSWERING].open(who, *_ids(request)))


@api.post(
    Q + "/rehearsal",
    summary="Begin a rehearsal (排练): its reading time starts; recording starts by itself "
    "when it runs out",
    auth="candidate",
    response=PAGE,
    errors=(400, *STEP_ERRORS),
)
async def begin_rehearsal(request: web.Request) -> web.Response:
    who = caller(request)
    return web.json_response(await request.app[ANSWERING].begin_rehearsal(who, *_ids(request)))


@api.post(
    Q + "/rehearsal/leave",
    summary="Leave the rehearsal (返回): an unused reading ends, an unplayed rehearsal is deleted",
    auth="candidate",
    response=PAGE,
    errors=STEP_ERRORS,
)
async def leave_rehearsal(request: web.Request) -> web.Response:
    who = caller(request)
    return web.json_response(await request.app[ANSWERING].leave_rehearsal(who, *_ids(request)))


@api.post(
    Q + "/formal",
    summary="Enter the formal answer (正式答题): the submission time and the reading time start",
    auth="candidate",
    response=PAGE,
    errors=(400, *STEP_ERRORS),
)
async def enter_formal(request: web.Request) -> web.Response:
    who = caller(request)
    return web.json_response(await request.app[ANSWERING].enter_formal(who, *_ids(request)))


@api.post(
    Q + "/takes",
    summary="Start recording by hand (when reading is unlimited, or to start early)",
    description="The server records your primary camera session; it stops the take itself at "
    "the recording limit (the take's deadline).",
    auth="candidate",
    body=obj({"kind": {"type": "string", "enum": [k.value for k in TakeKind]}}),
    response=PAGE,
    errors=(400, *STEP_ERRORS),
)
async def start_take(request: web.Request) -> web.Response:
    who = caller(request)
    kind = TakeKind(request[BODY]["kind"])
    return web.json_response(await request.app[ANSWERING].start_take(who, *_ids(request), kind))


@api.post(
    Q + "/takes/{take_id}/stop",
    summary="Stop recording; the take is stored and can never be continued",
    auth="candidate",
    response=loose("the page and the stored take", now=TIME, question=QUESTION, take={}),
    errors=STEP_ERRORS,
)
async def stop_take(request: web.Request) -> web.Response:
    who = caller(request)
    take_id = request.match_info["take_id"]
    return web.json_response(await request.app[ANSWERING].stop_take(who, *_ids(request), take_id))


@api.get(
    Q + "/works",
    summary="Your works: finished formal takes, and whether each may be played back",
    auth="candidate",
    response=loose(
        "works",
        now=TIME,
        formal_playback_allowed={"type": "boolean"},
        chosen_take_id={"type": ["string", "null"]},
        works={"type": "array", "items": {"type": "object"}},
    ),
    errors=(400, *STEP_ERRORS),
)
async def works(request: web.Request) -> web.Response:
    who = caller(request)
    return web.json_response(await request.app[ANSWERING].works(who, *_ids(request)))


@api.post(
    Q + "/choice",
    summary="Choose the formal take to submit (选择已录视频 → 已选)",
    auth="candidate",
    body=obj({"take_id": string("one of your formal takes of this question", max_length=64)}),
    response=PAGE,
    errors=(400, *STEP_ERRORS),
)
async def choose(request: web.Request) -> web.Response:
    who = caller(request)
    return web.json_response(
        await request.app[ANSWERING].choose(who, *_ids(request), request[BODY]["take_id"])
    )


@api.post(
    Q + "/save",
    summary="Save an offline answer's files as a draft (保存)",
    auth="candidate",
    response=PAGE,
    errors=(400, *STEP_ERRORS),
)
async def save(request: web.Request) -> web.Response:
    who = caller(request)
    return web.json_response(await request.app[ANSWERING].save(who, *_ids(request)))


@api.post(
    Q + "/submit",
    summary="Submit the answer (提交): the chosen take and materials, or the offline files",
    description="Refused after the submission deadline (409 deadline_passed).",
    auth="candidate",
    response=PAGE,
    errors=(400, *STEP_ERRORS),
)
async def submit(request: web.Request) -> web.Response:
    who = caller(request)
    return web.json_response(await request.app[ANSWERING].submit(who, *_ids(request)))


@api.get(
    "/api/recording",
    summary="What the server is reading or recording for you now (re-sync after reconnecting)",
    auth="candidate",
    response=loose(
        "questions being read or recorded",
        now=TIME,
        active={"type": "array", "items": QUESTION},
    ),
    errors=(401, 403),
)
async def recording_state(request: web.Request) -> web.Response:
    who = caller(request)
    return web.json_response(await request.app[ANSWERING].recording_state(who))
