"""``RTCRtpReceiver._handle_rtp_packet`` as a plain call, for the direct receive path.

aiortc handles each received RTP packet in a coroutine: made, started and finished once
per packet (by :func:`media.receive_path.run`), though it suspends only when RTCP must
wait to be sent. On its way it stamps the packet's source with a ``datetime`` (for
``getSynchronizationSources``), looks the codec's name up twice (a string split each
time), and parses the whole VP8 payload descriptor into an object to keep its payload.

:class:`PacketHandler` does the same steps in the same order, for one receiver, as a
plain method: the bandwidth estimate and its REMB, the source's timestamp (refreshed
once a second, which is all ``getSynchronizationSources``' ten seconds need), the
codec, the RTCP statistics (``StreamStatistics.add``'s steps inline,
:func:`count_packet`), RTX unwrapping, NACKs (for the next packet in order with
nothing missing, only the newest sequence number moves on: all aiortc's generator does
then), depayloading (VP8: the descriptor's length read, :func:`vp8_payload`), the
jitter buffer, PLI (a decoding error, which aiortc looks for at every packet, is looked
for at each frame released), and the frame handed on to the decoder queue
(:mod:`media.tap`'s).
Sending RTCP is still aiortc's coroutine, run to its first suspension by
:func:`media.receive_path.run`.

One thing it does that aiortc does not: a video packet that goes missing is not waited
for without end. aiortc NACKs a hole once, and if that retransmission is lost too, its
jitter buffer holds every newer frame back (the keyframe asked for after the loss
included) until 512 newer packets have come, 5 to 20 seconds of a camera. Outside a
take (whose recorder has a stall check of its own) nothing ended that: the proctor's
picture and the wall's tile froze, and with no frame for two seconds the hub took the
camera for lost (``MEDIA_SILENCE_S``) and closed it when its grace ran out, while its
packets were still arriving. As a browser's receiver does (libwebrtc's NACK module
and frame buffer), the hole is NACKed again every :data:`NACK_AGAIN_MS` while it stays
open, and once the packet that holds the buffer up has been missing for
:data:`HOLE_WAIT_MS` the buffer is moved past it (:func:`media.tap.skip_lost`; the next
frame is marked as following a loss) and a keyframe asked for. A link that loses often
but whose retransmissions come in time always has a hole open, never one that old: it
is never given up. Both are timed by the packets' own arrival, checked only while a
hole is open (a packet that could not be read, dropped as aiortc drops it, opens one
too).

It reads aiortc 1.16's receiver internals (``check_compatible`` names what moved):
the dicts it keeps are mutated in place by aiortc and read through here; the values
aiortc may replace (the RTCP SSRC, the decoder thread, the jitter buffer) are read
again for every packet.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Coroutine
from typing import Any

from aiortc import clock
from aiortc.codecs import depayload
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import RTCRtpReceiver, StreamStatistics
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, RtpPacket, pack_remb_fci, unwrap_rtx

from media import tap

_PREFIX = "_RTCRtpReceiver__"
ATTRIBUTES = (
    "active_ssrc",
    "codecs",
    "decoder_error",
    "decoder_queue",
    "decoder_thread",
    "jitter_buffer",
    "kind",
    "nack_generator",
    "remote_bitrate_estimator",
    "remote_streams",
    "rtcp_ssrc",
    "rtx_ssrc",
    "timestamp_mapper",
)
# the receiver's attributes read for every packet, by their names in its dict
_REMOTE_BITRATE_ESTIMATOR = _PREFIX + "remote_bitrate_estimator"
_RTCP_SSRC = _PREFIX + "rtcp_ssrc"
_NACK_GENERATOR = _PREFIX + "nack_generator"
_JITTER_BUFFER = _PREFIX + "jitter_buffer"
_DECODER_ERROR = _PREFIX + "decoder_error"
_KIND = _PREFIX + "kind"
_DECODER_THREAD = _PREFIX + "decoder_thread"
_TIMESTAMP_MAPPER = _PREFIX + "timestamp_mapper"
_DECODER_QUEUE = _PREFIX + "decoder_queue"
STREAM_ATTRIBUTES = (  # StreamStatistics's, which count_packet updates
    "base_seq",
    "max_seq",
    "cycles",
    "packets_received",
    "_clockrate",
    "_jitter_q4",
    "_last_arrival",
    "_last_timestamp",
)
SOURCE_REFRESH_MS = 1000  # a source's timestamp is renewed this often (aiortc: every packet)
# A lost video packet is NACKed again this often while it is missing (aiortc: once; a
# phone's round trip is 50-300 ms, and the sender keeps its last 128 packets to resend)...
NACK_AGAIN_MS = 250
# ... and is given up this long after the hole opened: the buffer moves past it and a
# keyframe is asked for (the recorder's stall check may do so sooner during a take).
HOLE_WAIT_MS = 1000

_VP8, _H264, _RTX, _OTHER = range(4)


class PacketHandler:
    """One receiver's packets (see the module)."""

    __slots__ = (
        "_active",
        "_codecs",
        "_hole_ms",
        "_kinds",
        "_missing_since",
        "_nacked_ms",
        "_receiver",
        "_remote_streams",
        "_rtx_ssrc",
        "_seen_ms",
        "_send",
        "_state",
    )

    def __init__(
        self, receiver: RTCRtpReceiver, send: Callable[[Coroutine[Any, Any, None]], None]
    ) -> None:
        state = vars(receiver)
        self._receiver = receiver
        self._state = state
        self._send = send  # runs an RTCP coroutine (media.receive_path.run)
        self._active: dict[int, datetime.datetime] = state[_PREFIX + "active_ssrc"]
        self._codecs: dict[int, RTCRtpCodecParameters] = state[_PREFIX + "codecs"]
        self._rtx_ssrc: dict[int, int] = state[_PREFIX + "rtx_ssrc"]
        self._remote_streams: dict[int, StreamStatistics] = state[_PREFIX + "remote_streams"]
        self._seen_ms: dict[int, int] = {}
        self._kinds: dict[int, int] = {}  # payload type -> how to depayload
        self._hole_ms = 0  # when the hole now waited for opened; 0: none open
        self._nacked_ms = 0  # when the open holes were last NACKed
        self._missing_since: dict[int, int] = {}  # sequence number -> when found missing

    def rtp(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        receiver, state = self._receiver, self._state
        if not receiver._enabled:
            return
        estimator = state[_REMOTE_BITRATE_ESTIMATOR]
        if estimator is not None:
            abs_send_time = packet.extensions.abs_send_time
            if abs_send_time is not None:
                remb = estimator.add(  # (arrival, send time, size, SSRC), by position
                    arrival_time_ms,
                    abs_send_time,
                    len(packet.payload) + packet.padding_size,
                    packet.ssrc,
                )
                if remb is not None and state[_RTCP_SSRC] is not None:
                    self._send(
                        receiver._send_rtcp(
                            RtcpPsfbPacket(
                                fmt=RTCP_PSFB_APP,
                                ssrc=state[_RTCP_SSRC],
                                media_ssrc=0,
                                fci=pack_remb_fci(*remb),
                            )
                        )
                    )

        ssrc = packet.ssrc
        seen = self._seen_ms.get(ssrc)
        if seen is None or arrival_time_ms - seen >= SOURCE_REFRESH_MS:
            self._seen_ms[ssrc] = arrival_time_ms
            self._active[ssrc] = clock.current_datetime()

        codec = self._codecs.get(packet.payload_type)
        if codec is None:
            return
        streams = self._remote_streams
        stream = streams.get(ssrc)
        if stream is None:
            stream = streams[ssrc] = StreamStatistics(codec.clockRate)
        count_packet(stream, packet)

        kind = self._kinds.get(packet.payload_type)
        if kind is None:
            kind = self._kind(packet.payload_type, codec)
        if kind == _RTX:
            original_ssrc = self._rtx_ssrc.get(ssrc)
            if original_ssrc is None:
                return
            apt = codec.parameters.get("apt")
            if len(packet.payload) < 2 or not isinstance(apt, int) or apt not in self._codecs:
                return
            packet = unwrap_rtx(packet, payload_type=apt, ssrc=original_ssrc)
            codec = self._codecs[apt]
            kind = self._kind(apt, codec)

        nacks = state[_NACK_GENERATOR]  # None for audio
        if (
            nacks is not None
            and not nacks.missing
            and packet.sequence_number == _next(nacks.max_seq)
        ):
            nacks.max_seq = packet.sequence_number  # all ``add`` does for the next packet
        elif nacks is not None and nacks.add(packet):
            self._send(receiver._send_rtcp_nack(packet.ssrc, sorted(nacks.missing)))
            self._nacked_ms = arrival_time_ms
            since = self._missing_since
            for seq in nacks.missing:
                since.setdefault(seq, arrival_time_ms)
            if not self._hole_ms:
                self._hole_ms = arrival_time_ms

        payload = packet.payload
        try:
            if not payload:
                data = b""
            elif kind == _VP8:
                data = vp8_payload(payload)
            elif kind == _OTHER:
                data = payload
            else:
                data = depayload(codec, payload)
        except ValueError:
            if nacks is not None and not self._hole_ms:
                self._hole_ms = arrival_time_ms  # a hole in the buffer no NACK can fill
            return
        packet._data = data  # type: ignore[attr-defined]

        pli, frame = state[_JITTER_BUFFER].add(packet)
        if frame is not None:
            # a frame the decoder could not decode asks for a keyframe: aiortc looks at
            # every packet, here at each frame released (the same packet for a frame of
            # one; a video frame's packets are a few milliseconds apart)
            decoder_error = state[_DECODER_ERROR]
            if decoder_error.is_set():
                decoder_error.clear()
                if state[_KIND] == "video":
                    pli = True
        if pli:
            self._send(receiver._send_rtcp_pli(packet.ssrc))
        if frame is not None and state[_DECODER_THREAD]:
            frame.timestamp = state[_TIMESTAMP_MAPPER].map(frame.timestamp)
            state[_DECODER_QUEUE].put((codec, frame))
        if self._hole_ms:
            self._hole(nacks, packet.ssrc, arrival_time_ms)

    def _hole(self, nacks: Any, ssrc: int, now_ms: int) -> None:
        """A video packet went missing (see the module): NACK what is still missing again;
        when the hole waited for is :data:`HOLE_WAIT_MS` old, see what holds the buffer
        up now (:meth:`_give_up`)."""
        if now_ms - self._hole_ms >= HOLE_WAIT_MS or now_ms < self._hole_ms:
            self._give_up(nacks, ssrc, now_ms)
        elif nacks.missing and now_ms - self._nacked_ms >= NACK_AGAIN_MS:
            self._nacked_ms = now_ms
            # not those the buffer has moved past (the recorder gave them up meanwhile)
            origin = self._state[_JITTER_BUFFER]._origin
            if origin is not None:
                nacks.missing.difference_update(
                    [seq for seq in nacks.missing if _behind(origin, seq)]
                )
            if nacks.missing:
                self._send(self._receiver._send_rtcp_nack(ssrc, sorted(nacks.missing)))

    def _give_up(self, nacks: Any, ssrc: int, now_ms: int) -> None:
        """The first packet missing from the buffer, if it has been missing for
        :data:`HOLE_WAIT_MS`: move the buffer past every hole and ask for a keyframe (the
        frames after a lost one are no use without it). If it came meanwhile and a newer
        one holds the buffer up (a link that loses often, its retransmissions in time),
        wait for that one as long; if nothing does, the watch ends."""
        receiver = self._receiver
        since = self._missing_since
        origin = self._state[_JITTER_BUFFER]._origin
        if origin is not None:  # forget the holes the buffer has moved past
            for seq in [seq for seq in since if _behind(origin, seq)]:
                del since[seq]
        blocking = tap.first_hole(receiver, nacks.max_seq)
        if blocking is None:
            self._hole_ms = 0
            since.clear()
            return
        opened = since.get(blocking, self._hole_ms)  # (one no NACK was sent for: as old)
        if 0 <= now_ms - opened < HOLE_WAIT_MS:
            self._hole_ms = opened
            return
        self._hole_ms = 0
        since.clear()
        if tap.skip_lost(receiver):
            # every hole is behind the buffer now: a retransmission asked for one again
            # would land behind it (100 packets behind, aiortc's buffer starts over)
            nacks.missing.clear()
            self._send(receiver._send_rtcp_pli(ssrc))

    def _kind(self, payload_type: int, codec: RTCRtpCodecParameters) -> int:
        kind = self._kinds.get(payload_type)
        if kind is None:
            name = codec.name.lower()
            kind = self._kinds[payload_type] = (
                _VP8
                if name == "vp8"
                else _H264
                if name == "h264"
                else _RTX
                if name == "rtx"
                else _OTHER
            )
        return kind


def count_packet(stream: StreamStatistics, packet: RtpPacket) -> None:
    """``StreamStatistics.add`` (the receiver report's figures), its steps inline."""
    sequence_number = packet.sequence_number
    max_seq = stream.max_seq
    stream.packets_received += 1
    if stream.base_seq is None:
        stream.base_seq = sequence_number
    # in order: newer than the newest (aiortc's uint16_gt)
    if max_seq is None or (
        sequence_number != max_seq and (sequence_number - max_seq) & 0xFFFF < 0x8000
    ):
        arrival = int(time.time() * stream._clockrate)
        if max_seq is not None and sequence_number < max_seq:
            stream.cycles += 1 << 16
        stream.max_seq = sequence_number
        timestamp = packet.timestamp
        last_timestamp = stream._last_timestamp
        if timestamp != last_timestamp and stream.packets_received > 1:
            assert stream._last_arrival is not None and last_timestamp is not None
            diff = abs((arrival - stream._last_arrival) - (timestamp - last_timestamp))
            stream._jitter_q4 += diff - ((stream._jitter_q4 + 8) >> 4)
        stream._last_arrival = arrival
        stream._last_timestamp = timestamp


def _next(seq: int | None) -> int:
    """The sequence number after ``seq`` (-1, no sequence number, when there is none)."""
    return -1 if seq is None else (seq + 1) & 0xFFFF


def _behind(origin: int, seq: int) -> bool:
    """Whether sequence number ``seq`` comes before ``origin`` (16-bit, wrapping)."""
    return 0 < (origin - seq) & 0xFFFF < 0x8000


def vp8_payload(payload: bytes) -> bytes:
    """The VP8 data after the payload descriptor (RFC 7741 4.2): aiortc's
    ``vp8_depayload`` without building the descriptor; the same ValueErrors."""
    size = len(payload)
    if size < 1:
        raise ValueError("VPX descriptor is too short")
    pos = 1
    if payload[0] & 0x80:  # X: extended control bits follow
        if size < 2:
            raise ValueError("VPX descriptor has truncated extended bits")
        ext = payload[1]
        pos = 2
        if ext & 0x80:  # I: a picture id, 7 or 15 bits
            if size < pos + 1:
                raise ValueError("VPX descriptor has truncated PictureID")
            if payload[pos] & 0x80:
                if size < pos + 2:
                    raise ValueError("VPX descriptor has truncated long PictureID")
                pos += 2
            else:
                pos += 1
        if ext & 0x40:  # L: TL0PICIDX
            if size < pos + 1:
                raise ValueError("VPX descriptor has truncated TL0PICIDX")
            pos += 1
        if ext & 0x30:  # T or K: TID/Y/KEYIDX
            if size < pos + 1:
                raise ValueError("VPX descriptor has truncated T/K")
            pos += 1
    return payload[pos:]
