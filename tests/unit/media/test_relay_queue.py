"""A viewer's bounded queue: in order, never past its bound, skipping to the next keyframe."""

from __future__ import annotations

import asyncio

import pytest

from media.relay_queue import RelayFrame, ViewerQueue

SOURCE = object()


def frame(i: int, keyframe: bool = False) -> RelayFrame:
    return RelayFrame(bytes([i % 256]), i * 3000, 90000, keyframe, SOURCE, 0.0)


def video(limit: int = 4) -> tuple[ViewerQueue, list[int]]:
    asked: list[int] = []
    return ViewerQueue("video", limit, lambda: asked.append(1)), asked


async def drain(queue: ViewerQueue) -> list[int]:
    out = []
    while len(queue):
        got = await queue.get()
        assert got is not None
        out.append(got.timestamp // 3000)
    return out


async def test_video_starts_at_a_keyframe_and_keeps_order() -> None:
    queue, asked = video()
    for i in range(3):
        queue.put(frame(i))  # mid-GOP: nothing to show yet
    assert len(queue) == 0 and queue.stats.dropped == 3
    queue.put(frame(3, keyframe=True))
    queue.put(frame(4))
    assert await drain(queue) == [3, 4]
    assert asked == []


async def test_a_full_queue_skips_to_the_next_keyframe_and_asks_for_one() -> None:
    queue, asked = video(limit=4)
    queue.put(frame(0, keyframe=True))
    for i in range(1, 4):
        queue.put(frame(i))
    assert len(queue) == 4
    for i in range(4, 50):  # the viewer's sender is stalled
        queue.put(frame(i))
        assert len(queue) <= queue.limit
    assert len(queue) == 0 and queue.waiting_keyframe
    assert asked == [1]  # asked once: the keyframe serves the whole skip
    assert queue.stats.skips == 1 and queue.stats.dropped == 50
    queue.put(frame(50, keyframe=True))
    queue.put(frame(51))
    assert await drain(queue) == [50, 51]


async def test_a_keyframe_arriving_at_a_full_queue_starts_it_afresh() -> None:
    queue, asked = video(limit=2)
    queue.put(frame(0, keyframe=True))
    queue.put(frame(1))
    queue.put(frame(2, keyframe=True))
    assert await drain(queue) == [2]
    assert asked == [] and queue.stats.skips == 1


async def test_audio_drops_its_backlog_and_goes_on() -> None:
    queue = ViewerQueue("audio", 3, lambda: pytest.fail("audio has no keyframes"))
    for i in range(7):
        queue.put(frame(i))
        assert len(queue) <= 3
    assert await drain(queue) == [6]


async def test_prefill_only_from_a_keyframe_that_fits() -> None:
    queue, _ = video(limit=3)
    assert not queue.prefill([frame(0), frame(1)])  # not a keyframe first
    assert not queue.prefill([frame(0, True), frame(1), frame(2), frame(3)])  # too long
    assert queue.prefill([frame(0, True), frame(1)])
    queue.put(frame(2))
    assert await drain(queue) == [0, 1, 2]


async def test_a_getter_waits_and_close_releases_it() -> None:
    queue, _ = video()
    waiting = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    queue.put(frame(7, keyframe=True))
    got = await asyncio.wait_for(waiting, 5)
    assert got is not None and got.timestamp == 7 * 3000
    waiting = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    queue.close()
    assert await asyncio.wait_for(waiting, 5) is None
    queue.put(frame(8, keyframe=True))  # closed: ignored
    assert len(queue) == 0


async def test_wait_for_keyframe_keeps_what_is_queued() -> None:
    queue, _ = video()
    queue.put(frame(0, keyframe=True))
    queue.put(frame(1))
    queue.wait_for_keyframe()  # a new source: its frames start at its keyframe
    queue.put(frame(2))
    queue.put(frame(3, keyframe=True))
    assert await drain(queue) == [0, 1, 3]
