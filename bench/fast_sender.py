"""A leaner RTP send loop for the bench's simulated candidates (aiortc 1.16, pylibsrtp 1.0).

aiortc's ``RTCRtpSender._run_rtp`` spends as much CPU per packet as the server does
receiving it: an ``av.Packet`` copied in and out and ``Fraction`` arithmetic per frame, an
``RtpPacket`` and a ``HeaderExtensions`` object per packet, two ``datetime`` objects for its
NTP clock (abs-send-time), the VP8 payload descriptor built field by field, and four
coroutines deep to reach ``sendto``. On the bench's one load-generator core that made the
load generator, not the server, the limit of a capacity run (issue #16).

:func:`install` gives one sender a loop that writes the same bytes for less: the RTP
header, the negotiated header extensions (mid, abs-send-time stamped per packet), the VP8
payload descriptor (S bit on a frame's first packet, a picture id that rises by one a
frame from a random start) and the frame cut at aiortc's 1300-byte payloads, the marker on
a frame's last packet; the timestamp from a random origin, the sequence number from
aiortc's random start; SRTP by pylibsrtp's own C call, without its wrapper's cost
(:class:`Protect`). It is set on the sender instance, so aiortc's class and every other
peer connection in the process (the viewers', the proctors') keep aiortc's loop.

Everything else stays aiortc's: RTCP (the sender report reads the counters this loop keeps,
SDES, BYE), keyframe requests (routed by :meth:`bench.tracks.PacedTrack.route_keyframe_requests`)
and NACKs: ``RTCRtpSender._retransmit`` reads the sender's history, which here keeps each
packet's bytes and parses one back into an ``RtpPacket`` only when a NACK asks for it, so
the retransmission over RTX is aiortc's own.

The loop reads and writes the sender's private state and pylibsrtp's session internals;
:func:`install` checks that every name it uses is where aiortc 1.16 and pylibsrtp 1.0 keep
it, and names the one that moved. Measured at 16 streams: 1.3% of a core a stream against
2.1% with aiortc's loop (docs/bench.md).
"""

from __future__ import annotations

import asyncio
import logging
import random
import struct
import time
import traceback
from typing import Any, Protocol

import aiortc
import pylibsrtp
from aiortc import RTCRtpSender
from aiortc.codecs import vpx
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcdtlstransport import State
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpsender import random_sequence_number
from aiortc.rtp import RTP_HISTORY_SIZE, HeaderExtensions, HeaderExtensionsMap, RtpPacket
from aiortc.utils import random32
from pylibsrtp._binding import ffi, lib  # type: ignore[import-not-found]  # compiled

log = logging.getLogger(__name__)

AIORTC_VERSION = "1.16."
PYLIBSRTP_VERSION = "1.0."
NTP_UNIX_OFFSET_US = 2_208_988_800 * 1_000_000  # 1900-01-01 (NTP's epoch) to 1970-01-01
RTP_HEADER = struct.Struct("!BBHLL")
EXTENSION_HEADER = struct.Struct("!HH")
VP8_DESCRIPTOR = struct.Struct("!BBH")  # X|S|PID, I, M|picture id (15 bits)
VP8_CHUNK = vpx.PACKET_MAX - VP8_DESCRIPTOR.size  # frame bytes in each packet, as aiortc's
VP8_FIRST, VP8_NEXT, VP8_HAS_PICTURE_ID = 0x90, 0x80, 0x80

# The sender's private (name-mangled) state the loop reads or keeps up to date.
_SENDER = "_RTCRtpSender__"
SENDER_STATE = tuple(
    _SENDER + name
    for name in (
        "track",
        "mid",
        "rtp_started",
        "rtp_exited",
        "rtp_history",
        "rtp_header_extensions_map",
        "ntp_timestamp",
        "rtp_timestamp",
        "octet_count",
        "packet_count",
    )
)
NTP_TIMESTAMP, RTP_TIMESTAMP, OCTET_COUNT, PACKET_COUNT = SENDER_STATE[-4:]
_DTLS = "_RTCDtlsTransport__"
TX_BYTES, TX_PACKETS = _DTLS + "tx_bytes", _DTLS + "tx_packets"
DTLS_STATE = ("_state", "_tx_srtp", "transport", TX_BYTES, TX_PACKETS)
SRTP_STATE = ("_srtp", "_cdata", "_buffer")  # pylibsrtp.Session's, protect's own


class Protect:
    """What ``pylibsrtp.Session.protect`` calls, for :class:`SendLoop` to make that C call
    itself on the session's own buffer: its wrapper (an ``int *`` allocated each call, type
    and length checks, two Python frames) took half of the 6 us a packet's SRTP cost."""

    def __init__(self, session: pylibsrtp.Session) -> None:
        self.session = session
        self.srtp = session._srtp[0]
        self.cdata = session._cdata
        self.buffer = session._buffer
        self.room = len(self.buffer) - pylibsrtp.SRTP_MAX_TRAILER_LEN
        self.length = ffi.new("int *")


class SampleSource(Protocol):
    """What the loop sends: a frame's bytes and its pts in ticks of the RTP clock."""

    clock: int

    async def next_sample(self) -> tuple[bytes, int]: ...


def ntp_time() -> int:
    """``aiortc.clock.current_ntp_time()`` without the datetimes: NTP 32.32 fixed point,
    to the microsecond."""
    us = time.time_ns() // 1000 + NTP_UNIX_OFFSET_US
    seconds, rest = divmod(us, 1_000_000)
    return seconds << 32 | (rest << 32) // 1_000_000


def abs_send_time() -> int:
    """``(current_ntp_time() >> 14) & 0xFFFFFF``: 6.18 fixed-point seconds."""
    return (((time.time_ns() // 1000 + NTP_UNIX_OFFSET_US) << 18) // 1_000_000) & 0xFFFFFF


def extension_block(extensions: HeaderExtensionsMap, mid: str | None) -> tuple[bytes, bytes, bool]:
    """The header extension block aiortc writes for this sender (profile, length and
    values) split where abs-send-time's three bytes go, and whether they go at all (not
    when abs-send-time was not negotiated: then the block is all in the first part)."""
    blocks = []
    for stamp in (0, 0xFFFFFF):
        profile, values = extensions.set(HeaderExtensions(mid=mid, abs_send_time=stamp))
        blocks.append(EXTENSION_HEADER.pack(profile, len(values) >> 2) + values if values else b"")
    zero, ones = blocks
    at = [i for i, (a, b) in enumerate(zip(zero, ones, strict=True)) if a != b]
    if not at:
        return zero, b"", False
    if at != list(range(at[0], at[0] + 3)):  # pragma: no cover - aiortc changed its format
        raise RuntimeError(f"abs-send-time is not three bytes in {zero.hex()} / {ones.hex()}")
    return zero[: at[0]], zero[at[0] + 3 :], True


class History:
    """The sender's RTP history for ``RTCRtpSender._retransmit``: each packet's bytes
    (before SRTP) by ``sequence number % RTP_HISTORY_SIZE``, parsed back into the
    ``RtpPacket`` aiortc would have kept only when a NACK asks for one."""

    def __init__(self, extensions: HeaderExtensionsMap) -> None:
        self.raw: dict[int, bytes] = {}
        self._extensions = extensions

    def __setitem__(self, key: int, packet: RtpPacket) -> None:
        self.raw[key] = packet.serialize(self._extensions)

    def get(self, key: int) -> RtpPacket | None:
        raw = self.raw.get(key)
        return None if raw is None else RtpPacket.parse(raw, self._extensions)


def check(sender: RTCRtpSender) -> None:
    """Fail, naming it, when something the loop uses is not where aiortc 1.16 keeps it."""
    for package, pinned in ((aiortc, AIORTC_VERSION), (pylibsrtp, PYLIBSRTP_VERSION)):
        if not package.__version__.startswith(pinned):
            raise RuntimeError(
                f"bench/fast_sender.py is written against {package.__name__} {pinned}x's "
                f"internals, not {package.__name__} {package.__version__}: check them again"
            )
    dtls = sender.transport
    ice = getattr(dtls, "transport", None)
    connection = getattr(ice, "_connection", None)
    places: list[tuple[Any, str, str]] = [
        *((sender, name, "RTCRtpSender") for name in SENDER_STATE),
        *((dtls, name, "RTCDtlsTransport") for name in DTLS_STATE),
        (ice, "_connection", "RTCIceTransport"),
        (connection, "_nominated", "aioice Connection"),
        *((pylibsrtp.Session, name, "pylibsrtp.Session") for name in ("protect", "__init__")),
        *((pylibsrtp, name, "pylibsrtp") for name in ("SRTP_MAX_TRAILER_LEN", "ERRORS")),
        (lib, "srtp_protect", "pylibsrtp._binding.lib"),
    ]
    moved = [f"{owner}.{name}" for obj, name, owner in places if not hasattr(obj, name)]
    kept = pylibsrtp.Session.__init__.__code__.co_names  # what a session sets up
    moved += [f"pylibsrtp.Session.{name}" for name in SRTP_STATE if name not in kept]
    if moved:
        raise RuntimeError(
            f"bench/fast_sender.py: aiortc {aiortc.__version__} / pylibsrtp "
            f"{pylibsrtp.__version__} moved {', '.join(moved)}"
        )


def install(sender: RTCRtpSender, source: SampleSource) -> None:
    """Send ``source``'s frames with :class:`SendLoop` instead of aiortc's loop (call it
    before the sender starts: before ``setRemoteDescription``)."""
    check(sender)
    sender._run_rtp = SendLoop(sender, source).run  # type: ignore[method-assign]


class SendLoop:
    """One sender's RTP loop: per frame, its packets built with ``struct``, protected and
    handed to the socket; what aiortc's ``_run_rtp`` sends, for less."""

    def __init__(self, sender: RTCRtpSender, source: SampleSource) -> None:
        self.sender = sender
        self.source = source

    def _state(self, name: str) -> Any:
        return getattr(self.sender, _SENDER + name)

    def _set(self, name: str, value: Any) -> None:
        setattr(self.sender, _SENDER + name, value)

    async def run(self, codec: RTCRtpCodecParameters) -> None:
        """Replaces ``RTCRtpSender._run_rtp``: the same start and exit signals, the same
        errors ending it quietly."""
        kind = codec.mimeType.lower()
        if kind not in ("video/vp8", "audio/opus") or codec.clockRate != self.source.clock:
            log.warning("fast sender: %s at %s Hz: aiortc's own loop", kind, codec.clockRate)
            await RTCRtpSender._run_rtp(self.sender, codec)
            return
        self._state("rtp_started").set()
        try:
            await self._send(codec, vp8=kind == "video/vp8")
        except (asyncio.CancelledError, ConnectionError, MediaStreamError):
            pass
        except Exception:
            log.warning("fast sender failed: %s", traceback.format_exc())
        track = self._state("track")
        if track is not None:
            track.stop()
            self._set("track", None)
        self._state("rtp_exited").set()

    async def _send(self, codec: RTCRtpCodecParameters, vp8: bool) -> None:
        sender = self.sender
        extensions: HeaderExtensionsMap = self._state("rtp_header_extensions_map")
        history = History(extensions)
        self._set("rtp_history", history)
        raw_history = history.raw
        before_stamp, after_stamp, stamped = extension_block(extensions, self._state("mid"))
        first_byte = 0x90 if before_stamp else 0x80  # version 2, extension bit
        assert codec.payloadType is not None  # negotiated before the sender starts
        payload_type, ssrc = codec.payloadType, sender._ssrc
        sequence = random_sequence_number()
        origin = random32()
        picture_id = random.randint(0, 0x7FFF)
        packets = octets = tx_bytes = 0
        state = vars(sender)
        protect: Protect | None = None
        sending: Any = None  # the ICE candidate pair sent on
        srtp_protect = lib.srtp_protect
        next_sample = self.source.next_sample
        pack_header, pack_descriptor = RTP_HEADER.pack, VP8_DESCRIPTOR.pack
        while True:
            data, pts = await next_sample()
            if not sender._enabled:
                continue
            dtls: Any = sender.transport
            if dtls._state != State.CONNECTED:
                raise ConnectionError("Cannot send encrypted RTP, not connected")
            pair = dtls.transport._connection._nominated.get(1)
            if pair is None:
                raise ConnectionError("Cannot send data, not connected")
            if protect is None or protect.session is not dtls._tx_srtp:
                protect = Protect(dtls._tx_srtp)
                srtp, cdata, buffer, length = (
                    protect.srtp,
                    protect.cdata,
                    protect.buffer,
                    protect.length,
                )
            if pair is not sending:  # the same pair, socket and address for the whole call
                sending, sendto, address = pair, pair.protocol.transport.sendto, pair.remote_addr
            timestamp = (origin + pts) & 0xFFFFFFFF
            if vp8:
                view = memoryview(data)
                chunks = [view[at : at + VP8_CHUNK] for at in range(0, len(data), VP8_CHUNK)]
                first = pack_descriptor(VP8_FIRST, VP8_HAS_PICTURE_ID, 0x8000 | picture_id)
                rest = pack_descriptor(VP8_NEXT, VP8_HAS_PICTURE_ID, 0x8000 | picture_id)
                picture_id = (picture_id + 1) & 0x7FFF
            else:
                chunks = [memoryview(data)]  # Opus: a frame a packet, as aiortc sends
                first = rest = b""
            last = len(chunks) - 1
            for i, chunk in enumerate(chunks):
                stamp = abs_send_time().to_bytes(3, "big") if stamped else b""
                packet = b"".join(
                    (
                        pack_header(
                            first_byte,
                            payload_type | 0x80 if i == last else payload_type,
                            sequence,
                            timestamp,
                            ssrc,
                        ),
                        before_stamp,
                        stamp,
                        after_stamp,
                        rest if i else first,
                        chunk,
                    )
                )
                raw_history[sequence % RTP_HISTORY_SIZE] = packet
                size = len(packet)
                if size > protect.room:
                    raise ValueError("packet is too long")
                buffer[0:size] = packet
                length[0] = size
                status = srtp_protect(srtp, cdata, length)
                if status:
                    raise pylibsrtp.Error(pylibsrtp.ERRORS[status])
                protected = buffer[0 : length[0]]
                sendto(protected, address)
                tx_bytes += len(protected)
                octets += len(chunk) + len(first)
                sequence = (sequence + 1) & 0xFFFF
            if not chunks:
                continue
            packets += len(chunks)
            # What the sender report and getStats read, as of the frame's last packet.
            state[NTP_TIMESTAMP] = ntp_time()
            state[RTP_TIMESTAMP] = timestamp
            state[OCTET_COUNT] = octets
            state[PACKET_COUNT] = packets
            transport_state = vars(dtls)
            transport_state[TX_BYTES] += tx_bytes
            transport_state[TX_PACKETS] += len(chunks)
            tx_bytes = 0
