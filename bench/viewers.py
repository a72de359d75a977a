"""Simulated proctors watching candidates live: aiortc viewers that need not decode.

A viewer does what the spotlight does (docs/signaling.md, "Watching a
candidate live"): ``open_session`` with role ``viewer``, a receive-only
``offer`` (one video and one audio section, bundled), then it receives.
Nothing is decoded in this process for the figures (they are the server's,
and 100 viewers share one core of the load generator): a server that relays
the frames as the candidate sent them (examcast) is read by a light receiver
of our own (:meth:`Viewer._light`: each VP8 frame put together from its RTP
packets, told apart by its bytes, :class:`Frames`), which skips aiortc's
jitter buffer, statistics, bandwidth estimation and decoder thread; the
sound's packets are only counted. A server that re-encodes (the
``MediaRelay`` baseline) changes the bytes: :func:`pass_through` makes
aiortc's receivers hand over each reassembled encoded frame, and the viewer
decodes it in a thread of its own and reads the picture's barcode
(:func:`bench.clip.read_barcode`).

Which frame of the candidate's stream it was (and so when it was sent, the
"glass") follows from the clip picture and the sender's log
(:attr:`bench.tracks.PacedTrack.sent_at`). Its arrival is when the frame's
last RTP packet (the marker) reached the viewer's receiver: aiortc's jitter
buffer hands a frame over only when the next one starts, a browser's does not.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import socket
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import aiortc.rtcrtpreceiver
import av
from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCSessionDescription,
)
from aiortc.codecs import depayload
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from bench.clip import Clip, read_barcode
from bench.tracks import PacedTrack

log = logging.getLogger(__name__)

MARKS_KEPT = 600  # arrival times of the last frames' marker packets, per receiver
# A viewer's UDP receive buffer (about 8 s of its video), as a browser's is large: a moment's
# lag of the load generator must not drop what the server sent. Not larger: a load generator
# that cannot keep up would only fall further behind (and its ICE consent checks with it).
RECEIVE_BUFFER = 1 << 20


@dataclass(frozen=True, slots=True)
class Received:
    """What a pass-through "decoder" hands the track instead of a picture."""

    data: bytes
    timestamp: int  # aiortc's, counted from the first frame
    handed_at: float  # time.monotonic() in the decoder thread


class _PassThrough:
    def decode(self, encoded_frame: Any) -> list[Received]:
        return [Received(bytes(encoded_frame.data), encoded_frame.timestamp, time.monotonic())]


def pass_through() -> None:
    """In this process, aiortc's receivers hand over encoded frames, never decode them (the
    load generator only sends otherwise)."""

    def decoder(codec: Any) -> Any:
        return _PassThrough()

    aiortc.rtcrtpreceiver.get_decoder = decoder


def is_vp8_keyframe(data: bytes) -> bool:
    return bool(data) and not data[0] & 1


class Frames:
    """Which clip picture an encoded frame is, from its bytes (the relay does not touch
    them)."""

    def __init__(self, clip: Clip) -> None:
        self._index: dict[bytes, int] = {s.data: i for i, s in enumerate(clip.video)}
        self._index.update((s.data, i) for i, s in clip.key_video.items())

    def picture(self, data: bytes) -> int | None:
        return self._index.get(data)


class BarcodeReader:
    """For pictures the server re-encoded: decode (in this viewer's own thread, in order)
    and read the barcode."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="bench-viewer-decode")
        self._decoder = av.CodecContext.create("vp8", "r")

    async def picture(self, data: bytes) -> int | None:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._read, data)

    def _read(self, data: bytes) -> int | None:
        index = None
        try:
            for frame in self._decoder.decode(av.Packet(data)):
                index = read_barcode(frame.to_ndarray(format="gray"))
        except av.FFmpegError:
            return None
        return index

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


@dataclass
class ViewerLog:
    """What one viewer saw: (sent index, arrival) per identified picture, in order."""

    candidate: int
    opened_at: float = 0.0  # time.monotonic() when open_session was sent (the click)
    connected_at: float | None = None  # its peer connection up
    first_picture_at: float | None = None  # its first keyframe complete at the receiver
    frames: list[tuple[int, float]] = field(default_factory=list)
    unidentified: int = 0
    audio_frames: int = 0
    marks_missing: int = 0  # arrivals taken at hand-over (no marker packet time found)


class Viewer:
    """One viewer session of one proctor's socket, watching ``track``'s candidate."""

    def __init__(
        self,
        call: Callable[[str, dict[str, Any]], Any],
        exam_id: str,
        candidate_id: str,
        candidate: int,
        track: PacedTrack,
        frames: Frames | None,
    ) -> None:
        self._call = call
        self.exam_id = exam_id
        self.candidate_id = candidate_id
        self.track = track
        self._frames = frames  # None: decode and read barcodes
        self._barcodes = BarcodeReader() if frames is None else None
        self.log = ViewerLog(candidate)
        self.pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        self.session_id = ""
        self._marks: OrderedDict[int, float] = OrderedDict()  # RTP timestamp -> arrival
        self._origin: int | None = None  # the first RTP timestamp: aiortc counts from it
        self._tasks: list[asyncio.Task[None]] = []
        self.first_picture = asyncio.Event()
        # the light receiver's frame being put together: RTP timestamp, next sequence number
        self._parts: list[bytes] = []
        self._frame_ts: int | None = None
        self._next_seq: int | None = None
        self._broken = False

    async def open(self, connect_timeout_s: float) -> None:
        self.log.opened_at = time.monotonic()
        opened = await self._call(
            "open_session",
            {"role": "viewer", "exam_id": self.exam_id, "candidate_id": self.candidate_id},
        )
        self.session_id = opened["session_id"]
        video = self.pc.addTransceiver("video", direction="recvonly")
        audio = self.pc.addTransceiver("audio", direction="recvonly")

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            consume = self._video if track.kind == "video" else self._audio
            self._tasks.append(asyncio.ensure_future(consume(track)))

        await self.pc.setLocalDescription(await self.pc.createOffer())
        _large_receive_buffers(video.receiver)
        answer = await self._call(
            "offer",
            {"session_id": self.session_id, "type": "offer", "sdp": self.pc.localDescription.sdp},
        )
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        if self._frames is not None:
            self._receive_light(video.receiver, video._codecs)
        else:
            self._note_markers(video.receiver)
        self._count_sound(audio.receiver)
        deadline = time.monotonic() + connect_timeout_s
        while self.pc.connectionState != "connected":
            if self.pc.connectionState in ("failed", "closed") or time.monotonic() > deadline:
                raise RuntimeError(
                    f"viewer of candidate {self.log.candidate}: peer connection "
                    f"{self.pc.connectionState}"
                )
            await asyncio.sleep(0.02)
        self.log.connected_at = time.monotonic()

    def _note_markers(self, receiver: RTCRtpReceiver) -> None:
        """Keep when each frame's last packet arrived (the receiver is told of every
        packet through this method)."""
        handle = receiver._handle_rtp_packet
        marks = self._marks

        async def noting(packet: Any, arrival_time_ms: int) -> None:
            if self._origin is None:
                self._origin = packet.timestamp
            if packet.marker:
                marks[packet.timestamp] = time.monotonic()
                if len(marks) > MARKS_KEPT:
                    marks.popitem(last=False)
            await handle(packet, arrival_time_ms)

        receiver._handle_rtp_packet = noting  # type: ignore[method-assign]

    def _receive_light(self, receiver: RTCRtpReceiver, codecs: list[RTCRtpCodecParameters]) -> None:
        """Take the picture's RTP packets from aiortc's receiver (after SRTP and parsing)."""
        by_type = {c.payloadType: c for c in codecs if c.name == "VP8"}

        async def light(packet: Any, arrival_time_ms: int) -> None:
            codec = by_type.get(packet.payload_type)
            if codec is not None:  # not RTX: nothing is lost on loopback
                self._light(packet, codec)

        receiver._handle_rtp_packet = light  # type: ignore[method-assign]

    def _light(self, packet: Any, codec: RTCRtpCodecParameters) -> None:
        if packet.timestamp != self._frame_ts:  # a new frame; an unfinished one is lost
            self._frame_ts, self._parts, self._broken = packet.timestamp, [], False
        elif packet.sequence_number != self._next_seq:
            self._broken = True
        self._next_seq = (packet.sequence_number + 1) & 0xFFFF
        try:
            self._parts.append(depayload(codec, packet.payload))
        except ValueError:
            self._broken = True
        if not packet.marker:
            return
        arrival = time.monotonic()
        data = b"".join(self._parts)
        self._parts, self._frame_ts = [], None
        if self._broken:
            self.log.unidentified += 1
            return
        self._seen(data, arrival, self._frames.picture(data) if self._frames else None)

    def _seen(self, data: bytes, arrival: float, picture: int | None) -> None:
        if self.log.first_picture_at is None:
            if not is_vp8_keyframe(data):
                return
            self.log.first_picture_at = arrival
            self.first_picture.set()
        if picture is None:
            self.log.unidentified += 1
            return
        index = sent_index(
            self.track.sent_at, arrival, picture, self.track.first, self.track.samples
        )
        self.log.frames.append((index, arrival))

    def _count_sound(self, receiver: RTCRtpReceiver) -> None:
        """Count the Opus packets (one frame each) and go no further: the sound is relayed
        like the picture, and its jitter buffer and thread hops would only load this
        process."""

        async def counting(packet: Any, arrival_time_ms: int) -> None:
            self.log.audio_frames += 1

        receiver._handle_rtp_packet = counting  # type: ignore[method-assign]

    def _arrival(self, item: Received) -> float:
        if self._origin is not None:
            at = self._marks.get((self._origin + item.timestamp) & 0xFFFFFFFF)
            if at is not None and at <= item.handed_at:
                return at
        self.log.marks_missing += 1
        return item.handed_at

    async def _video(self, track: MediaStreamTrack) -> None:
        """Frames from aiortc's receiver (:func:`pass_through`; none come to a light one)."""
        while True:
            try:
                item = await track.recv()
            except MediaStreamError:
                return
            if not isinstance(item, Received):
                continue
            arrival = self._arrival(item)
            if self.log.first_picture_at is None and not is_vp8_keyframe(item.data):
                continue
            if self._barcodes is not None:
                picture = await self._barcodes.picture(item.data)
            else:
                picture = self._frames.picture(item.data) if self._frames else None
            self._seen(item.data, arrival, picture)

    async def _audio(self, track: MediaStreamTrack) -> None:
        while True:  # nothing comes (see _count_sound) until the track ends
            try:
                await track.recv()
            except MediaStreamError:
                return

    async def close(self) -> None:
        if self.session_id:
            try:
                await asyncio.wait_for(
                    self._call("close_session", {"session_id": self.session_id}), 10
                )
            except Exception:
                log.debug("closing viewer session %s failed", self.session_id, exc_info=True)
        try:
            await asyncio.wait_for(self.pc.close(), 10)
        except Exception:
            log.debug("closing a viewer's peer failed", exc_info=True)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._barcodes is not None:
            self._barcodes.close()


def _large_receive_buffers(receiver: RTCRtpReceiver) -> None:
    """Give the sockets of the receiver's (bundled) ICE transport :data:`RECEIVE_BUFFER`
    (forced past ``rmem_max`` where this process may, as root in its network namespace)."""
    connection = getattr(receiver.transport.transport, "_connection", None)
    for protocol in getattr(connection, "_protocols", []):
        sock = protocol.transport.get_extra_info("socket")
        if sock is None:
            continue
        force = getattr(socket, "SO_RCVBUFFORCE", 33)
        try:
            sock.setsockopt(socket.SOL_SOCKET, force, RECEIVE_BUFFER)
        except OSError:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)


def sent_index(sent_at: list[float], arrival: float, picture: int, first: int, length: int) -> int:
    """The latest frame of the stream, sent before ``arrival``, that showed clip picture
    ``picture`` (the clip loops every ``length`` frames; the stream began at ``first``);
    -1 if none was."""
    last = bisect.bisect_right(sent_at, arrival) - 1
    if last < 0:
        return -1
    offset = (picture - first) % length
    if offset > last:
        return -1
    return last - (last - offset) % length


@dataclass(frozen=True)
class ViewerFigures:
    delivered: int
    expected: int
    latencies_ms: list[float]
    first_picture_ms: list[float]
    connect_ms: list[float]
    unidentified: int
    audio_frames: int
    marks_missing: int


def viewer_figures(
    logs: list[ViewerLog], sent_at: Mapping[int, list[float]], start: float, end: float
) -> ViewerFigures:
    """Delivery and latency of the frames sent between ``start`` and ``end`` (monotonic),
    for each viewer of candidate ``log.candidate`` whose sender's log is ``sent_at[...]``."""
    delivered = expected = 0
    latencies: list[float] = []
    for viewer in logs:
        times = sent_at[viewer.candidate]
        lo, hi = bisect.bisect_left(times, start), bisect.bisect_right(times, end)
        expected += hi - lo
        seen = set()
        for index, arrival in viewer.frames:
            if lo <= index < hi and index not in seen:
                seen.add(index)
                latencies.append((arrival - times[index]) * 1000)
        delivered += len(seen)
    return ViewerFigures(
        delivered,
        expected,
        latencies,
        [(v.first_picture_at - v.opened_at) * 1000 for v in logs if v.first_picture_at is not None],
        [(v.connected_at - v.opened_at) * 1000 for v in logs if v.connected_at is not None],
        sum(v.unidentified for v in logs),
        sum(v.audio_frames for v in logs),
        sum(v.marks_missing for v in logs),
    )
