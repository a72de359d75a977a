"""JSON log lines: time, level, logger, message, and the request and take they are about."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime

import pytest

from exams.shared.telemetry import about_take
from web import logs


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonFormatter("node-a"))
    logger = logging.getLogger("examcast.test_logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, out
    logger.removeHandler(handler)


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_line_is_one_json_object(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = captured
    logger.warning("考生 %s: %d frames", "张三", 3)
    [line] = lines(out)
    assert line.keys() == {"time", "level", "logger", "message", "node"}
    assert line["message"] == "考生 张三: 3 frames"
    assert (line["level"], line["logger"], line["node"]) == (
        "WARNING",
        "examcast.test_logs",
        "node-a",
    )
    assert str(line["time"]).endswith("+00:00")  # UTC, ISO 8601
    datetime.fromisoformat(str(line["time"]))


async def test_lines_name_the_request_and_take_of_their_task(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = captured

    async def request(rid: str, take: str | None) -> None:
        logs.request_id.set(rid)
        if take is not None:
            about_take(take)
        await asyncio.sleep(0)  # the other request runs meanwhile: each keeps its own
        logger.info("handled")

    await asyncio.gather(request("r-1", "take-1"), request("r-2", None))
    logger.info("outside")
    got = {(line.get("request_id"), line.get("take_id"), line["message"]) for line in lines(out)}
    assert got == {("r-1", "take-1", "handled"), ("r-2", None, "handled"), (None, None, "outside")}


def test_an_error_carries_its_traceback(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = captured
    try:
        raise ValueError("bad")
    except ValueError:
        logger.exception("failed")
    [line] = lines(out)
    assert line["message"] == "failed"
    assert "ValueError: bad" in str(line["exception"])


def test_configure_chooses_the_format(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        logs.configure("info", "json", "node-b")
        logging.getLogger("examcast.x").info("as json")
        logs.configure("info", "text")
        logging.getLogger("examcast.x").info("as text")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    first, second = capsys.readouterr().err.splitlines()[-2:]
    assert json.loads(first)["message"] == "as json"
    assert json.loads(first)["node"] == "node-b"
    assert second.endswith("INFO examcast.x: as text")
