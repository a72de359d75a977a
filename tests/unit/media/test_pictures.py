"""The wall's pictures from real tapped aiortc receivers fed real VP8, on time a test moves.

Each camera is a libvpx encoder that makes a keyframe only when a PLI has reached
it (as a browser does), so every picture the service makes answers its own request.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time as real_time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import av
import pytest

from media import picture_codec, sources
from media import pictures as pictures_module
from media.hub import MediaSession
from media.picture_codec import Snapshot
from media.pictures import (
    GRACE_S,
    MIN_GAP_FRACTION,
    RETRY_S,
    Picture,
    PictureStats,
    WallPictures,
    cpu_per_camera_pct,
)
from media.preview import PREVIEW_QUIET_S
from tests.support.clock import MovableTime, wait_until
from tests.support.media import read_barcode
from tests.support.rtp import Camera, Receiver, tapped_receiver, vp8_payloads

# Longer than any test runs: a tick comes only when the test moves time.
INTERVAL = 600.0


@dataclass
class Device:
    """A camera sending to a tapped receiver, answering PLIs with a keyframe."""

    camera: Camera
    rx: Receiver
    plis: int = 0

    async def send(self, frames: int = 1) -> None:
        for _ in range(frames):
            i = self.camera.index
            await self.rx.send(vp8_payloads(self.camera.next(), i), i * 3000, lambda n: False)
            await asyncio.sleep(0)  # the receiver's RTCP goes out
            if self.rx.transport.pli_count > self.plis:
                self.plis = self.rx.transport.pli_count
                self.camera.key_wanted = True

    async def send_until(self, done: Any, limit: int = 300) -> None:
        for _ in range(limit):
            if done():
                return
            await self.send()
        raise AssertionError("not within the frames sent")


@dataclass
class Hub:
    sessions: list[MediaSession] = field(default_factory=list)

    def sessions_of(self, owner: str) -> list[MediaSession]:
        return [s for s in self.sessions if s.owner == owner]

    async def camera(
        self, owner: str, role: str = "primary", ssrc: int = 1, first: int = 0
    ) -> Device:
        """A camera in the owner's session of ``role`` (new tracks if it has one: a
        reconnect), numbering its frames from ``first``."""
        device = Device(Camera(640, 480), await tapped_receiver("video", ssrc, 100, 0))
        device.camera.index = first
        device.camera.key_wanted = False  # its first keyframe only when asked
        await device.send()  # an interframe would not decode alone: start with a keyframe
        session = next(
            (s for s in self.sessions if s.owner == owner and s.role == role), None
        ) or MediaSession(id=f"{owner}-{role}", owner=owner, role=role)
        if session not in self.sessions:
            self.sessions.append(session)
        session.sources = [device.rx.source]
        return device


@pytest.fixture
def fake_monotonic(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    """The PLI throttle's clock (media.sources'), moved by the test."""
    now = SimpleNamespace(t=1000.0)
    monkeypatch.setattr(sources, "time", SimpleNamespace(monotonic=lambda: now.t))
    yield now


@pytest.fixture
def snapshots(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every frame handed to the decoder."""
    decoded: list[bytes] = []
    real = picture_codec.snapshot

    def counting(codec: str, data: bytes, *args: Any) -> Snapshot:
        decoded.append(data)
        return real(codec, data, *args)

    monkeypatch.setattr(picture_codec, "snapshot", counting)
    return decoded


@pytest.fixture
async def wall() -> AsyncIterator[tuple[WallPictures, Hub, MovableTime]]:
    hub, time = Hub(), MovableTime()
    pictures = WallPictures(hub, time, time, interval_s=INTERVAL, threads=1)
    yield pictures, hub, time
    await pictures.close()


def barcode(picture: Picture) -> int:
    return read_barcode(picture.luma())


async def test_no_requests_no_decoding_for_a_camera_nobody_watches(
    wall: tuple[WallPictures, Hub, MovableTime], snapshots: list[bytes]
) -> None:
    pictures, hub, time = wall
    device = await hub.camera("alice")
    time.advance(3 * INTERVAL)
    await device.send(60)
    assert device.plis == 0 and not device.rx.source.watched
    assert snapshots == [] and pictures.latest("alice", "primary") is None


async def test_a_watched_camera_gets_a_small_jpeg_of_the_keyframe_it_asked_for(
    wall: tuple[WallPictures, Hub, MovableTime],
    snapshots: list[bytes],
    fake_monotonic: SimpleNamespace,
) -> None:
    pictures, hub, time = wall
    device = await hub.camera("alice")
    await device.send(10)
    heard: list[tuple[str, str, Picture]] = []
    pictures.add_listener(lambda owner, camera, picture: heard.append((owner, camera, picture)))
    handle = pictures.watch(["alice"])
    assert device.rx.source.watched
    await device.send()  # carries the PLI back: the camera's next frame is a keyframe
    await device.send_until(lambda: pictures.latest("alice", "primary") is not None)
    picture = pictures.latest("alice", "primary")
    assert picture is not None
    assert (picture.width, picture.height) == (320, 240) and picture.seq == 1
    assert barcode(picture) == device.camera.keyframes[-1]
    jpeg = av.CodecContext.create("mjpeg", "r").decode(av.Packet(picture.jpeg))[0]
    assert read_barcode(jpeg.to_ndarray(format="gray")) == device.camera.keyframes[-1]
    assert abs(picture.taken_at - time()) < 5
    assert heard == [("alice", "primary", picture)]
    # Only the keyframe was decoded; until the next picture is due, the camera's frames
    # are only looked at (for a keyframe that comes on its own): nothing decoded or asked.
    assert len(snapshots) == 1 and device.plis == 1
    await device.send(30)
    assert len(snapshots) == 1 and device.plis == 1

    # The next tick asks again: a new picture of the camera's new keyframe.
    fake_monotonic.t += 1.0
    time.advance(INTERVAL)
    await device.send_until(lambda: pictures.latest("alice", "primary") is not picture)
    second = pictures.latest("alice", "primary")
    assert second is not None and second.seq == 2
    assert barcode(second) == device.camera.keyframes[-1] != barcode(picture)
    assert len(snapshots) == 2 == pictures.stats().pictures
    pictures.release(handle)


async def test_a_keyframe_that_comes_on_its_own_is_used_and_none_is_asked_for(
    wall: tuple[WallPictures, Hub, MovableTime],
    snapshots: list[bytes],
    fake_monotonic: SimpleNamespace,
) -> None:
    """The recorder, a viewer or the sender itself cause keyframes too: one that arrives
    once the picture is due soon becomes the picture, and then the tick asks nothing."""
    pictures, hub, time = wall
    device = await hub.camera("alice")
    pictures.watch(["alice"])
    await device.send()
    await device.send_until(lambda: pictures.latest("alice", "primary") is not None)
    first = pictures.latest("alice", "primary")
    assert first is not None and device.plis == 1 and len(snapshots) == 1
    fake_monotonic.t += 10  # no PLI would be merged away below

    # Too soon after the last picture: a keyframe is not decoded.
    time.advance(0.5 * INTERVAL)
    device.camera.key_wanted = True  # someone else's keyframe
    await device.send(3)
    assert len(snapshots) == 1 and pictures.latest("alice", "primary") is first

    # Due soon: the next keyframe that comes is the picture, without a request.
    time.advance((MIN_GAP_FRACTION - 0.5) * INTERVAL + 1)
    device.camera.key_wanted = True
    await device.send_until(lambda: pictures.latest("alice", "primary") is not first)
    second = pictures.latest("alice", "primary")
    assert second is not None and second.seq == 2
    assert barcode(second) == device.camera.keyframes[-1]
    assert len(snapshots) == 2

    # The tick an interval after the first picture finds a fresh one: asks nothing.
    requests = pictures.stats().keyframe_requests
    time.advance(INTERVAL - MIN_GAP_FRACTION * INTERVAL)
    await device.send(5)  # the due tick runs meanwhile (its timer fires on the loop)
    assert pictures.stats().keyframe_requests == requests and device.plis == 1
    assert len(snapshots) == 2

    # No keyframe for an interval after that picture: the next tick asks for one.
    time.advance(second.taken_at + INTERVAL + GRACE_S - time() + 0.01)
    await wait_until(lambda: pictures.stats().keyframe_requests == requests + 1, what="asked")
    await device.send_until(lambda: device.plis == 2)
    await device.send_until(lambda: pictures.latest("alice", "primary") is not second)
    third = pictures.latest("alice", "primary")
    assert third is not None and third.seq == 3 and len(snapshots) == 3


async def test_requests_are_merged_to_one_pli_a_second(
    wall: tuple[WallPictures, Hub, MovableTime], fake_monotonic: SimpleNamespace
) -> None:
    pictures, hub, time = wall
    device = await hub.camera("alice")
    pictures.watch(["alice"])
    pictures.watch(["alice"])  # a second proctor's wall: the same requests
    transport = device.rx.transport
    await wait_until(lambda: transport.pli_count == 1, what="the first PLI")

    def requests_are(n: int) -> bool:
        return pictures.stats().keyframe_requests == n

    for k in range(2, 7):  # ticks due faster than a second (no frames: no keyframe comes)
        time.advance(INTERVAL)
        await wait_until(functools.partial(requests_are, k))
    assert transport.pli_count == 1, "merged requests sent a PLI within a second"
    fake_monotonic.t += sources.MIN_PLI_GAP_S
    time.advance(INTERVAL)
    await wait_until(lambda: transport.pli_count == 2, what="a PLI a second later")


async def test_watching_is_counted_across_walls_and_stops_at_the_last_release(
    wall: tuple[WallPictures, Hub, MovableTime],
    snapshots: list[bytes],
    fake_monotonic: SimpleNamespace,
) -> None:
    pictures, hub, time = wall
    alice, bob = await hub.camera("alice"), await hub.camera("bob", ssrc=2)
    first = pictures.watch(["alice", "bob"])
    second = pictures.watch(["alice"])
    pictures.release(first)
    pictures.release(first)  # twice: no effect
    assert pictures.watching("alice") and not pictures.watching("bob")
    await wait_until(lambda: alice.rx.source.watched)
    assert not bob.rx.source.watched
    pictures.release(second)
    assert not pictures.watching("alice") and not alice.rx.source.watched
    await wait_until(lambda: alice.rx.transport.pli_count == 1, what="the watch's PLI")
    fake_monotonic.t += 10
    time.advance(3 * INTERVAL)
    await alice.send(40)
    await bob.send(40)
    assert alice.rx.transport.pli_count == 1, "asked for a keyframe after the release"
    assert snapshots == [] and pictures.stats().watched_owners == 0


async def test_owners_watched_together_are_asked_apart(
    wall: tuple[WallPictures, Hub, MovableTime],
) -> None:
    pictures, hub, _ = wall
    devices = [await hub.camera(f"c{i}", ssrc=10 + i) for i in range(3)]
    pictures.watch([f"c{i}" for i in range(3)])
    # The first at once, the others STAGGER_S apart (on the scheduler's time).
    assert [d.rx.source.watched for d in devices] == [True, False, False]
    await wait_until(lambda: all(d.rx.source.watched for d in devices), what="all asked")


async def test_change_keeps_the_owners_in_both(
    wall: tuple[WallPictures, Hub, MovableTime],
) -> None:
    pictures, hub, _ = wall
    alice, bob = await hub.camera("alice"), await hub.camera("bob", ssrc=2)
    handle = pictures.change(pictures.watch(["alice"]), ["alice", "bob"])
    await wait_until(lambda: alice.rx.source.watched and bob.rx.source.watched)
    pictures.release(handle)
    assert not pictures.watching("alice") and not pictures.watching("bob")


async def test_both_cameras_and_a_reconnect_are_followed(
    wall: tuple[WallPictures, Hub, MovableTime], fake_monotonic: SimpleNamespace
) -> None:
    pictures, hub, time = wall
    primary = await hub.camera("alice")
    phone = await hub.camera("alice", "secondary", ssrc=2)
    pictures.watch(["alice"])
    await primary.send_until(lambda: pictures.latest("alice", "primary") is not None)
    await phone.send_until(lambda: pictures.latest("alice", "secondary") is not None)
    assert pictures.stats().cameras == 2

    # The phone reconnects: a new peer connection, new sources in the same session.
    old = phone.rx.source
    phone = await hub.camera("alice", "secondary", ssrc=3, first=500)
    fake_monotonic.t += 1.0
    time.advance(INTERVAL)
    await wait_until(lambda: phone.rx.source.watched, what="the new track watched")
    assert not old.watched
    await phone.send_until(
        lambda: (p := pictures.latest("alice", "secondary")) is not None and barcode(p) >= 500
    )
    latest = pictures.latest("alice", "secondary")
    assert latest is not None and latest.seq == 2


async def test_a_full_pool_drops_a_picture_instead_of_queueing_it(
    snapshots: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The worker holds its first picture until the three keyframes are in (a send may
    # yield to the loop, and a quick worker would otherwise be free again for the next).
    gate = threading.Event()
    counting = picture_codec.snapshot

    def held(*args: Any) -> Snapshot:
        gate.wait(30)
        return counting(*args)

    monkeypatch.setattr(picture_codec, "snapshot", held)
    hub, time = Hub(), MovableTime()
    pictures = WallPictures(hub, time, time, interval_s=INTERVAL, threads=1, max_pending=1)
    try:
        devices = [await hub.camera(f"c{i}", ssrc=10 + i) for i in range(3)]
        pictures.watch([f"c{i}" for i in range(3)])
        await wait_until(
            lambda: all(d.rx.transport.pli_count == 1 for d in devices), what="three PLIs"
        )
        for device in devices:
            await device.send()  # the PLIs reach the cameras
        # Three keyframes arrive in one turn of the loop: one goes to the worker.
        for device in devices:
            assert device.camera.key_wanted
            i = device.camera.index
            frame = device.camera.next()
            await device.rx.send(vp8_payloads(frame, i), i * 3000, lambda n: False)
        assert pictures.stats().dropped == 2
        gate.set()
        await wait_until(lambda: pictures.stats().pictures == 1, what="the one picture")
        assert len(snapshots) == 1
    finally:
        gate.set()
        await pictures.close()


async def test_a_dropped_keyframe_is_asked_for_again_soon(
    snapshots: list[bytes], fake_monotonic: SimpleNamespace
) -> None:
    """Keyframes that come together (cameras started together keep their phase) do not
    leave the dropped camera an interval without a picture: it is asked again RETRY_S on."""
    hub, time = Hub(), MovableTime()
    pictures = WallPictures(hub, time, time, interval_s=INTERVAL, threads=1, max_pending=1)
    try:
        devices = [await hub.camera(f"c{i}", ssrc=10 + i) for i in range(2)]
        pictures.watch(["c0", "c1"])
        await wait_until(
            lambda: all(d.rx.transport.pli_count == 1 for d in devices), what="two PLIs"
        )
        for device in devices:
            await device.send()  # the PLIs reach the cameras
        for device in devices:  # both keyframes in one turn of the loop: c1's is dropped
            i = device.camera.index
            await device.rx.send(vp8_payloads(device.camera.next(), i), i * 3000, lambda n: False)
        assert pictures.stats().dropped == 1
        await wait_until(lambda: pictures.latest("c0", "primary") is not None, what="c0")
        assert pictures.latest("c1", "primary") is None
        fake_monotonic.t += sources.MIN_PLI_GAP_S
        time.advance(RETRY_S)
        await wait_until(lambda: devices[1].rx.transport.pli_count == 2, what="c1 asked again")
        await devices[1].send_until(lambda: pictures.latest("c1", "primary") is not None)
        assert devices[0].rx.transport.pli_count == 1  # c0 has its picture: not asked
    finally:
        await pictures.close()


async def test_async_listeners_run_and_a_failing_one_does_not_stop_the_others(
    wall: tuple[WallPictures, Hub, MovableTime],
) -> None:
    pictures, hub, _ = wall
    device = await hub.camera("alice")
    heard: list[int] = []

    def broken(owner: str, camera: str, picture: Picture) -> None:
        raise RuntimeError("a listener's bug")

    async def later(owner: str, camera: str, picture: Picture) -> None:
        heard.append(picture.seq)

    pictures.add_listener(broken)
    pictures.add_listener(later)
    pictures.watch(["alice"])
    await device.send_until(lambda: heard == [1])


async def test_cpu_and_picture_age_are_counted_per_camera(
    wall: tuple[WallPictures, Hub, MovableTime],
) -> None:
    pictures, hub, time = wall
    device = await hub.camera("alice")
    before = pictures.stats()
    pictures.watch(["alice"])
    [waiting] = pictures.ages()
    assert 0 <= waiting < 5
    await device.send_until(lambda: pictures.stats().pictures == 1)
    time.advance(60)
    [age] = pictures.ages()
    assert 60 <= age < 70
    after = pictures.stats()
    assert after.worker_cpu_s > before.worker_cpu_s and after.loop_cpu_s > 0
    assert cpu_per_camera_pct(before, after, 1.0) > 0
    zero = PictureStats(0, 0, 0, 0, 0, 0, 0, 0.0, 0.0)
    assert cpu_per_camera_pct(zero, zero, 1.0) == 0.0


def test_one_picture_can_be_read_by_several_threads_at_once() -> None:
    """A detector's worker and the loop may read one picture together: PyAV keeps its
    scaler on the frame, so unguarded conversions of one frame in two threads crash."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    frame = av.VideoFrame(320, 240, "yuv420p")
    frame.planes[0].update(bytes(range(256)) * (frame.planes[0].buffer_size // 256))
    picture = Picture("cand", "primary", b"", 320, 240, 0.0, 1, frame)
    want = picture.luma()

    def read(i: int) -> bool:
        got = picture.luma() if i % 2 else picture.rgb()[..., 1]
        return bool(np.array_equal(got, want)) if i % 2 else got.shape == want.shape

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(read, range(2000)))


async def test_a_preview_is_pictured_asked_at_the_interval_and_left_when_quiet(
    wall: tuple[WallPictures, Hub, MovableTime],
    snapshots: list[bytes],
    fake_monotonic: SimpleNamespace,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A camera's preview (media.preview) is what the wall asks and decodes while it sends;
    nothing else asks it for keyframes, so it is asked at the interval, without the grace a
    camera's own track gets; once it has been quiet for PREVIEW_QUIET_S the camera is."""
    monkeypatch.setattr(
        pictures_module,
        "time",
        SimpleNamespace(monotonic=lambda: fake_monotonic.t, thread_time=real_time.thread_time),
    )
    pictures, hub, time = wall
    camera = await hub.camera("alice")
    small = Device(Camera(320, 240), await tapped_receiver("video", 2, 100, 0))
    small.camera.key_wanted = False
    await small.send()
    [session] = hub.sessions
    small.rx.source.preview, small.rx.source.preview_of = True, camera.rx.source
    session.preview = small.rx.source
    fake_monotonic.t = small.rx.source.last_frame_at = 1000.0
    pictures.watch(["alice"])
    assert small.rx.source.watched and not camera.rx.source.watched
    assert camera.rx.source.pictured == 1  # its quality report samples the preview's pictures
    await small.send_until(lambda: pictures.latest("alice", "primary") is not None)
    first = pictures.latest("alice", "primary")
    assert first is not None and (first.width, first.height) == (320, 240)
    assert (small.plis, camera.plis) == (1, 0) and pictures.stats().previewed == 1

    fake_monotonic.t += 2.0  # (no PLI merged away; the preview sent a moment ago)
    small.rx.source.last_frame_at = fake_monotonic.t
    requests = pictures.stats().keyframe_requests
    time.advance(2.0)  # a tick that finds the picture fresh: the next one due at its interval
    await small.send(2)
    assert pictures.stats().keyframe_requests == requests
    # an interval after the picture the tick is due at once (a camera's, GRACE_S later)
    time.advance(first.taken_at + INTERVAL - time() + 0.01)
    for _ in range(3):
        await asyncio.sleep(0)
    assert pictures.stats().keyframe_requests == requests + 1
    await small.send_until(lambda: small.plis == 2)
    await small.send_until(lambda: pictures.latest("alice", "primary") is not first)
    assert camera.plis == 0

    # The preview goes quiet: the next tick pictures the camera's own keyframes.
    fake_monotonic.t += PREVIEW_QUIET_S + 1
    time.advance(INTERVAL + GRACE_S + 0.01)
    await camera.send_until(lambda: camera.plis == 1)
    assert not small.rx.source.watched and camera.rx.source.watched
    assert camera.rx.source.pictured == 1 and pictures.stats().previewed == 0
