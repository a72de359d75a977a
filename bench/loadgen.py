"""The load generator: N simulated candidates, each a Socket.IO client and an aiortc peer.

Each candidate does what the device-check page does (docs/signaling.md):
``open_session``, ``offer`` with audio + video (and, as browsers send now,
the wall preview: a second, small video track, sent only when the answer
asks for it), ``start_take``, then sends for the bench's duration, then
``stop_take``. The order is arranged so the count is fair: every peer is
connected and every take started before any packet is sent, each stream
starts at a keyframe (so the recorder can write from its first frame; the
streams' keyframes are spread over the clip's 2.5 s GOP, as independent
cameras' are), and each sender stops, and the bench waits :data:`DRAIN_S`
for packets in flight, before ``stop_take``.

With a :class:`~bench.live.LivePlan` the candidates go on sending after the
recording window while proctors watch them (:mod:`bench.live`), and stop
after that.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import aioice.ice
import socketio
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from bench import fast_sender
from bench.accounts import signed_in
from bench.analysis import AnalysisPlan, AnalysisResult, Recorder, run_analysis
from bench.clip import AUDIO_FRAME_LENGTHS_MS, PREVIEW_EVERY, Clip
from bench.live import LivePlan, LiveResult, Watched, run_live
from bench.tracks import PacedTrack, clip_tracks, preview_track

log = logging.getLogger(__name__)

CONNECT_CONCURRENCY = 8
CONNECT_TIMEOUT_S = 30.0
CALL_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 120.0
START_DELAY_S = 0.3
DRAIN_S = 0.5

Phase = Callable[[str], None]


class LoadFailed(RuntimeError):
    """A simulated candidate could not do its part; the figures would be meaningless."""


def audio_ptime_ms(sdp: str) -> int | None:
    """The ``a=ptime`` of the audio section of ``sdp``, if it has one."""
    audio = False
    for line in sdp.splitlines():
        if line.startswith("m="):
            audio = line.startswith("m=audio ")
        elif audio and line.startswith("a=ptime:"):
            return int(line.removeprefix("a=ptime:"))
    return None


def loopback_only() -> None:
    """Gather only 127.0.0.1 as this process's ICE host candidate: no packet leaves lo."""
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else []


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    server_log: Path | None  # sign up and log in first (reading SMS codes here), as people do


@dataclass
class StreamResult:
    index: int
    video_sent: int
    audio_sent: int
    video_written: int
    audio_written: int
    segments: int
    max_lag_ms: float | None
    late_ms: float
    take: dict[str, Any] = field(repr=False)


@dataclass
class LoadResult:
    streams: list[StreamResult]
    window_s: float
    live: LiveResult | None = None
    sent_at: dict[int, list[float]] = field(default_factory=dict)  # candidate -> video log
    analysis: AnalysisResult | None = None


class Candidate:
    def __init__(
        self,
        index: int,
        target: Target,
        clip: Clip,
        streams: int = 1,
        preview: Clip | None = None,
    ) -> None:
        self.index = index
        self.target = target
        self.clip = clip
        # Keyframes spread over the GOP, as independent cameras' are (not all at once).
        self.audio, self.video = clip_tracks(clip, index, index / streams)
        # The wall preview's track, offered with ``preview`` and sent once the answer asks for
        # it; None without, or when the server asks for none (the page keeps that sender
        # inactive: it sends nothing).
        self.preview = None if preview is None else preview_track(preview, self.video)
        self.sio = socketio.AsyncClient(reconnection=False)
        # Every m-line on one transport, as a browser's once BUNDLE is agreed: aiortc's default
        # (balanced) leaves a second video m-line, the preview, on a transport that BUNDLE
        # then closes, so it never sends (aiortc issue #1414).
        self.pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        self.session_id = ""
        self.take_id = ""
        self.cookie = ""  # the session cookie header (a server with accounts)
        self.candidate_id = ""  # what proctors name it by: its account (the session's for
        # a server without accounts)

    async def call(
        self, event: str, data: dict[str, Any], limit_s: float = CALL_TIMEOUT_S
    ) -> dict[str, Any]:
        try:
            reply = await self.sio.call(event, data, timeout=limit_s)
        except socketio.exceptions.SocketIOError as exc:  # e.g. the socket was dropped
            raise LoadFailed(f"candidate {self.index}: {event}: {exc!r}") from None
        if not isinstance(reply, dict) or "error" in reply:
            raise LoadFailed(f"candidate {self.index}: {event} was refused: {reply}")
        return reply

    async def connect(self, http: aiohttp.ClientSession) -> None:
        headers = {}
        if self.target.server_log is not None:
            headers["Cookie"], self.candidate_id = await signed_in(
                self.target.url, self.index, self.target.server_log
            )
            self.cookie = headers["Cookie"]
        await self.sio.connect(
            self.target.url,
            headers=headers,
            transports=["websocket"],
            wait_timeout=CONNECT_TIMEOUT_S,
        )
        opened = await self.call("open_session", {"role": "primary"})
        self.session_id = opened["session_id"]
        self.candidate_id = self.candidate_id or self.session_id
        audio = self.pc.addTransceiver(self.audio, direction="sendonly")
        video = self.pc.addTransceiver(self.video, direction="sendonly")
        self.video.route_keyframe_requests(video.sender)
        # The same packets as aiortc's send loop, for less of the load generator's core.
        fast_sender.install(audio.sender, self.audio)
        fast_sender.install(video.sender, self.video)
        preview = None
        if self.preview is not None:  # the offer's second video m-line
            preview = self.pc.addTransceiver(self.preview, direction="sendonly")
            self.preview.route_keyframe_requests(preview.sender)
            fast_sender.install(preview.sender, self.preview)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        offer: dict[str, Any] = {
            "session_id": self.session_id,
            "type": "offer",
            "sdp": self.pc.localDescription.sdp,
        }
        if preview is not None:
            offer["preview"] = preview.mid
        answer = await self.call("offer", offer)
        if (answer.get("media") or {}).get("preview") is None:
            self.preview = None
        ptime = audio_ptime_ms(answer["sdp"])
        if ptime is not None:  # as Chromium's Opus encoder: the next length it has
            frame_ms = min((ms for ms in AUDIO_FRAME_LENGTHS_MS if ms >= ptime), default=60)
            self.audio.repacked(self.clip.audio_in(frame_ms), frame_ms / 1000)
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        while self.pc.connectionState != "connected":
            if self.pc.connectionState in ("failed", "closed"):
                raise LoadFailed(
                    f"candidate {self.index}: peer connection {self.pc.connectionState}"
                )
            await asyncio.sleep(0.05)

    async def start_take(self) -> None:
        take = await self.call(
            "start_take", {"session_id": self.session_id, "purpose": "device_check"}
        )
        self.take_id = take["take_id"]

    @property
    def tracks(self) -> list[PacedTrack]:
        """The tracks this candidate sends (from :meth:`send` on)."""
        return [self.audio, self.video, *([self.preview] if self.preview is not None else [])]

    def send(self, at: float, seconds: float | None, fps: int) -> None:
        """Send for ``seconds`` from ``at``; None: until :meth:`finish`."""
        self.video.start(at, None if seconds is None else round(seconds * fps))
        self.audio.start(at, None if seconds is None else round(seconds / self.audio.interval))
        if self.preview is not None:
            # a sixth of the video's frames: the preview shows every sixth picture
            self.preview.start(
                at, None if seconds is None else round(seconds * fps / PREVIEW_EVERY)
            )

    def finish(self, by: float) -> None:
        """Send the frames due by ``by`` (``time.monotonic()``), then stop."""
        for track in self.tracks:
            track.finish(track.frames_due(by))

    async def sent(self) -> None:
        for track in self.tracks:
            await track.done.wait()

    async def stop_take(self) -> StreamResult:
        # Counted as stop_take is asked (senders that go on, with --analysis, send more).
        video_sent, audio_sent = self.video.sent, self.audio.sent
        take = await self.call("stop_take", {"take_id": self.take_id}, limit_s=STOP_TIMEOUT_S)
        manifest = take.get("manifest") or {}
        written = {"video": 0, "audio": 0}
        segments = manifest.get("segments", [])
        for segment in segments:
            for stream in segment.get("streams", []):
                written[stream["kind"]] = written.get(stream["kind"], 0) + int(stream["frames"])
        return StreamResult(
            index=self.index,
            video_sent=video_sent,
            audio_sent=audio_sent,
            video_written=written["video"],
            audio_written=written["audio"],
            segments=len(segments),
            max_lag_ms=manifest.get("stats", {}).get("max_lag_ms"),
            late_ms=round(max(self.video.max_late_s, self.audio.max_late_s) * 1000, 1),
            take=take,
        )

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.pc.close(), 10)
        except Exception:
            log.debug("closing candidate %d's peer failed", self.index, exc_info=True)
        try:
            await asyncio.wait_for(self.sio.disconnect(), 10)
        except Exception:
            log.debug("disconnecting candidate %d failed", self.index, exc_info=True)


async def run_load(
    target: Target,
    clip: Clip,
    streams: int,
    seconds: float,
    on_phase: Phase,
    progress: Callable[[str], None],
    live: LivePlan | None = None,
    analysis: AnalysisPlan | None = None,
    preview: Clip | None = None,
) -> LoadResult:
    """Run ``streams`` candidates against ``target``; ``on_phase`` marks the window.
    With ``preview`` (:func:`bench.clip.make_preview`) they offer the wall preview too.

    Phases: ``connected`` (every peer up, no media yet), ``recording`` (the
    first sender starts), ``sent`` (every sender has sent its last frame; with
    ``live``: ``seconds`` after the first one started, the senders going on),
    the phases of :func:`bench.live.run_live`, ``stopped`` (every take stored).

    With ``analysis`` the senders go on too: the device-check takes are stopped after the
    recording window (``stopped``), then the candidates answer an exam question while the
    server's detectors are off and on (:func:`bench.analysis.run_analysis`).
    """
    candidates = [Candidate(i, target, clip, streams, preview) for i in range(streams)]
    live_result: LiveResult | None = None
    analysis_result: AnalysisResult | None = None
    go_on = live is not None or analysis is not None
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:

        async def connect(candidate: Candidate) -> None:
            async with limit:
                await asyncio.wait_for(candidate.connect(http), CONNECT_TIMEOUT_S)

        try:
            await _all(connect(c) for c in candidates)
            progress(f"{target.name}: {streams} peers connected")
            # Collect now, and keep what exists out of later collections, rather than
            # have a full collection stall every sender mid-run.
            gc.collect()
            gc.freeze()
            on_phase("connected")
            await _all(c.start_take() for c in candidates)
            # Spread the streams over one frame interval, as independent cameras would be.
            start = time.monotonic() + START_DELAY_S
            for c in candidates:
                c.send(start + c.index / streams / clip.fps, None if go_on else seconds, clip.fps)
            await asyncio.sleep(max(0.0, start - time.monotonic()))
            on_phase("recording")
            progress(f"{target.name}: {streams} takes recording for {seconds:g}s")
            if analysis is not None:
                await asyncio.sleep(max(0.0, start + seconds - time.monotonic()))
                window = time.monotonic() - start
                on_phase("sent")
                results = await _all(c.stop_take() for c in candidates)
                on_phase("stopped")
                progress(f"{target.name}: {streams} device-check takes stopped")
                recorders = [
                    Recorder(c.index, c.candidate_id, c.cookie, c.video) for c in candidates
                ]
                device_takes = {c.index: c.take_id for c in candidates}
                analysis_result = await run_analysis(
                    analysis, target.url, recorders, on_phase, progress, device_takes
                )
                await _finish(candidates)
            elif live is None:
                await asyncio.wait_for(_all(c.sent() for c in candidates), seconds + 60)
                window = time.monotonic() - start
                on_phase("sent")
            else:
                await asyncio.sleep(max(0.0, start + seconds - time.monotonic()))
                window = time.monotonic() - start
                on_phase("sent")
                watched = [Watched(c.index, c.candidate_id, c.video) for c in candidates]
                live_result = await run_live(live, target.url, clip, watched, on_phase, progress)
                await _finish(candidates)
            if analysis is None:
                await asyncio.sleep(DRAIN_S)
                results = await _all(c.stop_take() for c in candidates)
                on_phase("stopped")
                progress(f"{target.name}: {streams} takes stopped")
        finally:
            gc.unfreeze()
            await _all(c.close() for c in candidates)
    sent_at = {c.index: c.video.sent_at for c in candidates}
    return LoadResult(list(results), window, live_result, sent_at, analysis_result)


async def _finish(candidates: list[Candidate]) -> None:
    """Stop every sender that goes on (live, analysis) and wait until each has stopped."""
    stop_at = time.monotonic()
    for c in candidates:
        c.finish(stop_at)
    try:
        await asyncio.wait_for(_all(c.sent() for c in candidates), 60)
    except TimeoutError:
        stuck = [
            f"{c.index} ({c.pc.connectionState}, video {c.video.sent} sent)"
            for c in candidates
            if not all(t.done.is_set() for t in c.tracks)
        ]
        raise LoadFailed(f"senders did not finish: {', '.join(stuck)}") from None


async def _all(aws: Any) -> list[Any]:
    """``gather`` that cancels the rest when one fails."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
