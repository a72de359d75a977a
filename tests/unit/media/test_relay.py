"""The relay of one camera to its viewers: once per source, from a cached keyframe, across
a change of source with increasing timestamps; real VP8 frames made with PyAV."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

import pytest
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from media import relay as relay_module
from media.relay import SHED_PLI_GAP_S, Relays, RelayTrack
from media.sources import TrackSource
from media.tap import EncodedFrame
from tests.support.encoded import video_packets

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
H264 = RTCRtpCodecParameters(mimeType="video/H264", clockRate=90000, payloadType=97)
FRAMES = video_packets("vp8", 40, gop=20)  # keyframes at 0 and 20


class Source(TrackSource):
    """A track source without a peer: frames are handed to it by the test."""

    def __init__(self) -> None:
        super().__init__("video", cast(Any, None), "peer")
        self.plis = 0

    def request_keyframe(self, *, merge: bool = False) -> bool:
        assert merge, "viewers' keyframe requests are always merged"
        self.plis += 1
        return True

    def send(self, index: int, codec: RTCRtpCodecParameters = VP8, **flags: bool) -> None:
        self.on_frame(codec, EncodedFrame(FRAMES[index], index * 3000, **flags))


async def taken(track: RelayTrack) -> list[tuple[int, int]]:
    """(frame number, pts) of what the track's queue holds, taken out as a sender would."""
    out = []
    while len(track.queue):
        packet = await track.recv()
        out.append((FRAMES.index(bytes(packet)), int(packet.pts or 0)))
    return out


async def test_a_new_viewer_starts_at_the_cached_keyframe_and_the_source_is_watched_once() -> None:
    source, relays = Source(), Relays()
    first, second = RelayTrack("video", "video/vp8"), RelayTrack("video", "video/vp8")
    first.bind(relays.of(source))
    assert source.plis == 1  # nothing cached yet: a fresh keyframe is asked for
    for i in range(5):
        source.send(i)
    second.bind(relays.of(source))  # mid-GOP
    assert source.plis == 1  # the cached keyframe serves it
    source.send(5)
    assert [n for n, _ in await taken(first)] == [0, 1, 2, 3, 4, 5]
    assert [n for n, _ in await taken(second)] == [0, 1, 2, 3, 4, 5]
    assert len(relays) == 1 and source.watched
    first.stop()
    second.stop()
    assert len(relays) == 0 and not source.watched  # nobody watching: no cost per frame


async def test_a_lost_frame_holds_the_picture_until_the_next_keyframe() -> None:
    source, relays = Source(), Relays()
    track = RelayTrack("video", "video/vp8")
    track.bind(relays.of(source))
    for i in range(3):
        source.send(i)
    source.send(3, lost_before=True)  # frames before it were lost: it cannot be decoded
    for i in range(4, 21):
        source.send(i)
    assert [n for n, _ in await taken(track)] == [0, 1, 2, 20]
    assert source.plis == 2  # the start, and after the loss


async def test_a_new_source_continues_the_timestamps() -> None:
    relays = Relays()
    old, new = Source(), Source()
    track = RelayTrack("video", "video/vp8")
    track.bind(relays.of(old))
    for i in range(3):
        old.send(i)
    before = await taken(track)
    track.bind(relays.of(new))  # the candidate reconnected: frames count from 0 again
    assert not old.watched
    await asyncio.sleep(0.05)
    for i in range(20, 23):
        new.send(i)
    after = await taken(track)
    assert [n for n, _ in after] == [20, 21, 22]
    pts = [p for _, p in before + after]
    assert pts == sorted(pts) and len(set(pts)) == len(pts)
    assert after[0][1] - before[-1][1] >= 0.05 * 90000 * 0.9  # the time that went by


async def test_another_codec_is_not_relayed_and_the_viewer_is_told() -> None:
    told: list[RelayTrack] = []
    source = Source()
    source.send(0, H264)  # its codec is known from its frames (they need not be H.264 here)
    track = RelayTrack("video", "video/vp8", on_mismatch=told.append)
    track.bind(Relays().of(source))
    assert track.mismatch and told == [track] and track.relay is None


async def test_a_stopped_track_ends_its_sender() -> None:
    track = RelayTrack("video", "video/vp8")
    waiting = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0)
    track.stop()
    with pytest.raises(MediaStreamError):
        await asyncio.wait_for(waiting, 5)


async def test_a_viewer_still_waiting_a_second_later_asks_again() -> None:
    source, relays = Source(), Relays()
    first = RelayTrack("video", "video/vp8", queue_frames=500)  # it never skips here
    relay = relays.of(source)
    first.bind(relay)
    source.send(0)  # the keyframe asked for arrives ...
    for i in range(1, 100):  # ... and the GOP outgrows the cache: nothing to start from
        source.send(i % 20 or 1)
    late = RelayTrack("video", "video/vp8")
    late.bind(relay)
    assert source.plis == 2  # asked; the source may merge it into an earlier request
    source.send(1)
    assert source.plis == 2  # within the second: no new request
    assert relay._asked_at is not None
    relay._asked_at -= 1.5  # a second and a half later, still no keyframe came
    source.send(1)
    assert source.plis == 3
    source.send(1)
    assert source.plis == 3


async def test_while_shedding_viewers_get_keyframes_and_ask_for_few(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Load shedding (media.load): keyframes only, keyframe requests one per SHED_PLI_GAP_S
    per source (on a clock the test moves), and every frame again once it ends."""
    now = [100.0]
    monkeypatch.setattr(relay_module, "time", SimpleNamespace(monotonic=lambda: now[0]))
    shedding = [False]
    source = Source()
    relays = Relays(shedding=lambda: shedding[0])
    track = RelayTrack("video", "video/vp8", shedding=lambda: shedding[0])
    track.bind(relays.of(source))
    source.send(0)
    source.send(1)
    shedding[0] = True
    for i in range(2, 20):
        now[0] += 0.5
        source.send(i)  # deltas: left out
    asked = source.plis
    for _ in range(3):
        track.request_keyframe()  # the viewer's PLIs while shedding: merged
    assert source.plis == asked
    now[0] += SHED_PLI_GAP_S
    track.request_keyframe()
    assert source.plis == asked + 1
    source.send(20)  # a keyframe goes through
    source.send(21)  # its deltas do not while shedding
    shedding[0] = False
    source.send(22)  # mid-GOP after a gap: waits for the next keyframe
    assert [n for n, _ in await taken(track)] == [0, 1, 20]
    assert track.queue.stats.shed == 19
    track.stop()
