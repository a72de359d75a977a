"""The bench's wall preview: the second, small video track its candidates send as browsers do.

The preview clip is checked with PyAV (its pictures, keyframes and barcodes), its track
against the camera's (the same moment, the same loop), and a candidate's offer against a
real aiortc answerer behind a Socket.IO server in this process that asks for the preview or
not, as the server's answer does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import aioice.ice
import av
import pytest
import socketio
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack

from bench.clip import (
    KEY_ON_REQUEST_EVERY,
    PREVIEW_EVERY,
    Clip,
    Sample,
    make_clip,
    make_preview,
    read_barcode,
)
from bench.loadgen import Candidate, Target
from bench.tracks import clip_tracks, preview_track
from tests.support.clock import wait_until

PREVIEW_PICTURES = 6
ASKED = {"width": 320, "height": 240, "fps": 5, "max_kbps": 150}


@pytest.fixture(scope="module")
def preview() -> Clip:
    return make_preview(PREVIEW_PICTURES * PREVIEW_EVERY)


def _decoded(data: bytes, decoder: Any = None) -> list[av.VideoFrame]:
    decoder = decoder or av.CodecContext.create("vp8", "r")
    return list(decoder.decode(av.Packet(data)))


def test_the_preview_is_every_sixth_picture_at_320x240_and_5_fps(preview: Clip) -> None:
    assert (preview.width, preview.height, preview.fps) == (320, 240, 5)
    assert preview.describe()["size"] == "320x240" and preview.describe()["codec"] == "vp8"
    assert len(preview.video) == PREVIEW_PICTURES and preview.audio == ()
    assert preview.keyframes == (0,)  # then keyframes only when asked, as a browser's
    assert preview.black and all(s.keyframe for s in preview.black)
    [black] = _decoded(preview.black[0].data)
    assert (black.width, black.height) == (320, 240)
    decoder = av.CodecContext.create("vp8", "r")
    frames = [f for s in preview.video for f in _decoded(s.data, decoder)]
    assert {(f.width, f.height) for f in frames} == {(320, 240)}
    # The camera's pictures, their barcodes legible at a quarter of the size.
    shown = [read_barcode(f.to_ndarray(format="gray")) for f in frames]
    assert shown == list(range(0, PREVIEW_PICTURES * PREVIEW_EVERY, PREVIEW_EVERY))


def test_every_preview_picture_has_a_keyframe_version_of_chromiums_size(preview: Clip) -> None:
    """A request is answered at the very next preview frame, with a keyframe the size of a
    320x240 one of Chromium's (a few KB to about 11 KB: bench/clip.py)."""
    assert sorted(preview.key_video) == list(range(PREVIEW_PICTURES))
    for index, sample in preview.key_video.items():
        assert sample.keyframe and 2_000 < len(sample.data) < 13_000, len(sample.data)
        [alone] = _decoded(sample.data)
        assert (alone.width, alone.height) == (320, 240)
        assert read_barcode(alone.to_ndarray(format="gray")) == index * PREVIEW_EVERY


def test_a_clip_whose_length_is_no_multiple_of_six_has_no_preview() -> None:
    with pytest.raises(ValueError, match="loops with it"):
        make_preview(PREVIEW_EVERY * 2 + 1)


def _samples(count: int, name: str) -> tuple[Sample, ...]:
    return tuple(Sample(f"{name}{i}".encode(), i == 0) for i in range(count))


async def test_the_preview_track_shows_the_cameras_moment_and_goes_black_with_it() -> None:
    length = 36
    keys = range(0, length, KEY_ON_REQUEST_EVERY)
    clip = Clip(
        _samples(length, "v"),
        _samples(60, "a"),
        key_video={i: Sample(f"k{i}".encode(), True) for i in keys},
    )
    small = Clip(
        _samples(length // PREVIEW_EVERY, "p"),
        (),
        5,
        {i: Sample(f"pk{i}".encode(), True) for i in range(length // PREVIEW_EVERY)},
        320,
        240,
        (Sample(b"black", True),),
    )
    _, video = clip_tracks(clip, keyframe=0, phase=0.5)  # from picture 18's keyframe version
    track = preview_track(small, video)
    assert (video.first, track.first) == (18, 3)
    for frame in range(3 * len(small.video)):  # past two loops: still in step
        shown = track.sample_index(frame) * PREVIEW_EVERY
        assert 0 <= video.sample_index(frame * PREVIEW_EVERY) - shown < PREVIEW_EVERY
    track.start(time.monotonic() - 60, None)  # in the past: no pacing waits
    sent = [(await track.next_sample())[0] for _ in range(2)]
    assert sent == [b"pk3", b"p4"]  # it starts with a keyframe
    track.request_keyframe()
    assert (await track.next_sample())[0] == b"pk5"  # the very next frame
    assert track.keyframes_on_request == 1
    # A covered lens is black in both (bench --analysis covers the camera's track).
    video.cover((Sample(b"camera black", True),))
    assert (await track.next_sample())[0] == b"black"
    video.uncover()
    assert (await track.next_sample())[0] == b"pk1"  # back at once, with a keyframe
    with pytest.raises(ValueError, match="does not loop"):
        preview_track(small, clip_tracks(Clip(clip.video[:30], clip.audio), 0)[1])


def _loopback(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    return ["127.0.0.1"] if use_ipv4 else []


@dataclass
class Answerer:
    """The server's part of ``open_session`` and ``offer``: a real aiortc peer, and
    ``media.preview`` as the server answers it (``"absent"``: no ``media`` at all)."""

    preview: Any
    offers: list[dict[str, Any]] = field(default_factory=list)
    pcs: list[RTCPeerConnection] = field(default_factory=list)
    tracks: dict[str, MediaStreamTrack] = field(default_factory=dict)  # by mid

    async def answer(self, offer: dict[str, Any]) -> dict[str, Any]:
        self.offers.append(offer)
        # max-bundle: with aiortc's default (balanced) the second video m-line's receiver
        # is left on a transport that BUNDLE closes, and gets nothing (aiortc issue #1414).
        pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        self.pcs.append(pc)
        await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        for transceiver in pc.getTransceivers():
            assert transceiver.mid is not None
            self.tracks[transceiver.mid] = transceiver.receiver.track
        answer = {"type": "answer", "sdp": pc.localDescription.sdp}
        return (
            answer if self.preview == "absent" else {**answer, "media": {"preview": self.preview}}
        )


@pytest.fixture
async def answerer(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Answerer, str]]:
    monkeypatch.setattr(aioice.ice, "get_host_addresses", _loopback)
    answerer = Answerer(request.param)
    sio = socketio.AsyncServer(async_mode="aiohttp")
    app = web.Application()
    sio.attach(app)

    async def open_session(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        return {"session_id": "s1", "role": "primary", "state": "new", "take_id": None}

    async def offer(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        return await answerer.answer(data)

    sio.on("open_session", open_session)
    sio.on("offer", offer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield answerer, f"http://127.0.0.1:{server.port}"
    finally:
        for pc in answerer.pcs:
            await pc.close()
        await server.close()


@pytest.fixture(scope="module")
def clip() -> Clip:
    return make_clip(1, keyframe_every=None)  # 30 pictures


@pytest.fixture(scope="module")
def clip_preview(clip: Clip) -> Clip:
    return make_preview(len(clip.video))  # 5 pictures


def _mids(sdp: str) -> list[tuple[str, str]]:
    """(kind, mid) of each m-line, in order."""
    lines = sdp.splitlines()
    kinds = [line[2:].split()[0] for line in lines if line.startswith("m=")]
    mids = [line.split(":", 1)[1] for line in lines if line.startswith("a=mid:")]
    return list(zip(kinds, mids, strict=True))


async def _connected(candidate: Candidate) -> None:
    async with aiohttp.ClientSession() as http:  # no sign-in (no server log): unused
        await candidate.connect(http)


@pytest.mark.parametrize("answerer", [ASKED], indirect=True)
async def test_a_candidate_offers_the_preview_and_sends_it_when_asked(
    answerer: tuple[Answerer, str], clip: Clip, clip_preview: Clip
) -> None:
    server, url = answerer
    candidate = Candidate(0, Target("test", url, None), clip, preview=clip_preview)
    offered = candidate.preview
    assert offered is not None
    try:
        await _connected(candidate)
        [offer] = server.offers
        mids = _mids(offer["sdp"])
        assert [kind for kind, _ in mids] == ["audio", "video", "video"]
        assert offer["preview"] == mids[2][1]  # the second video m-line
        assert candidate.tracks == [candidate.audio, candidate.video, offered]
        # until both tracks are seen (a first keyframe sent before the answerer's receiver
        # was ready is lost: the next comes when asked), then to a stop
        candidate.send(time.monotonic(), None, clip.fps)
        camera, small = (server.tracks[mids[i][1]] for i in (1, 2))
        # Each on its own SSRC and mid (bench/fast_sender.py's loop, once per sender).
        pictures = await asyncio.wait_for(asyncio.gather(camera.recv(), small.recv()), 30)
        sizes = [(p.width, p.height) for p in pictures if isinstance(p, av.VideoFrame)]
        assert sizes == [(640, 480), (320, 240)]
        # A keyframe request for the preview's SSRC reaches the preview's track.
        [receiver] = [t.receiver for t in server.pcs[0].getTransceivers() if t.mid == mids[2][1]]
        await receiver._send_rtcp_pli(candidate.pc.getTransceivers()[2].sender._ssrc)
        await wait_until(lambda: offered.keyframes_on_request == 1, what="a preview keyframe")
        candidate.finish(time.monotonic())
        await asyncio.wait_for(candidate.sent(), 30)
        # in step: the preview's frames are every sixth of the camera's (each track's frame
        # already waiting for its time when the finish came is sent too)
        in_step = (candidate.video.sent - 1) // PREVIEW_EVERY + 1
        assert abs(offered.sent - in_step) <= 1, (offered.sent, candidate.video.sent)
    finally:
        await candidate.close()


@pytest.mark.parametrize("answerer", [None, "absent"], indirect=True)
async def test_a_candidate_asked_for_no_preview_sends_none(
    answerer: tuple[Answerer, str], clip: Clip, clip_preview: Clip
) -> None:
    """As the page keeps that sender inactive: the m-line is offered, nothing is sent on it."""
    server, url = answerer
    candidate = Candidate(0, Target("test", url, None), clip, preview=clip_preview)
    offered = candidate.preview
    assert offered is not None
    try:
        await _connected(candidate)
        assert "preview" in server.offers[0] and candidate.preview is None
        assert candidate.tracks == [candidate.audio, candidate.video]
        candidate.send(time.monotonic(), 0.5, clip.fps)
        await asyncio.wait_for(candidate.sent(), 10)
        assert (candidate.video.sent, offered.sent) == (15, 0)
    finally:
        await candidate.close()


@pytest.mark.parametrize("answerer", [ASKED], indirect=True)
async def test_a_candidate_without_the_preview_offers_one_video_m_line(
    answerer: tuple[Answerer, str], clip: Clip
) -> None:
    """``bench --preview off``: as a browser without it."""
    server, url = answerer
    candidate = Candidate(0, Target("test", url, None), clip)
    try:
        await _connected(candidate)
        [offer] = server.offers
        assert [kind for kind, _ in _mids(offer["sdp"])] == ["audio", "video"]
        assert "preview" not in offer and candidate.tracks == [candidate.audio, candidate.video]
    finally:
        await candidate.close()
