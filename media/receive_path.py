"""SRTP packets from the socket straight to aiortc's packet handler, without a queue.

aioice hands every datagram that is not STUN to an ``asyncio.Queue``; aiortc's
DTLS transport runs a task that awaits that queue, one datagram per task wake-up,
then unprotects it and passes it on. For a camera that is ~150 packets a second,
each paying for a failed STUN parse (an exception), a queue put and get, and a
task step: ~15% of the event loop at 48 cameras (docs/decisions/0029).

:func:`install` puts a small function in front of each of a peer connection's
aioice protocols: a datagram whose first byte says RTP/RTCP (RFC 7983: 128-191)
arriving once SRTP keys exist is unprotected and handled right there, in the
socket's callback: RTCP by ``RTCDtlsTransport._handle_rtcp_data``, RTP as
``_handle_rtp_data`` does it (parse, route, handle) but with the header read by
:mod:`media.receive_rtp`, the receiver's steps of ``_handle_rtp_packet`` made a plain
call by :mod:`media.receive_handler` and, for video, the bandwidth estimate of
:mod:`media.receive_rate`; everything else (STUN, DTLS, SRTP before the handshake
ends) takes aioice's path as before. SRTP is unprotected by libsrtp's own call
(:mod:`media.receive_srtp`: pylibsrtp's wrapper made a cffi allocation and raised an
exception for each packet it refused). A datagram unprotected here is also what
:mod:`media.consent` counts as the peer being there: its connection's
:class:`~media.consent.Consent` is told so at most once a second (two integer
comparisons a packet). aiortc's RTCP handler and its RTCP senders are
coroutines that only suspend when sending must wait (a TURN channel being bound): they
are run to their first suspension here, and a task finishes the rare one that does.

Like :mod:`media.tap`, this touches aiortc/aioice internals and was written for
aiortc 1.16 and aioice 0.13: :func:`check_compatible` names what moved.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable, Coroutine, Generator, Mapping
from typing import Any, cast

import aioice
import aioice.ice
from aioice.ice import Connection, StunProtocol
from aiortc import RTCPeerConnection
from aiortc.rate import RemoteBitrateEstimator
from aiortc.rtcdtlstransport import RTCCertificate, RTCDtlsTransport
from aiortc.rtcicetransport import RTCIceGatherer, RTCIceTransport
from aiortc.rtcrtpreceiver import RTCRtpReceiver, StreamStatistics
from aiortc.rtp import HeaderExtensions, is_rtcp

from media import consent, receive_handler, receive_rate, receive_rtp, receive_srtp

log = logging.getLogger(__name__)

SUPPORTED_AIOICE = "0.13"

_RX_BYTES = "_RTCDtlsTransport__rx_bytes"
_RX_PACKETS = "_RTCDtlsTransport__rx_packets"
_IDS = "_HeaderExtensionsMap__ids"
_ESTIMATOR = "_RTCRtpReceiver__remote_bitrate_estimator"
_NO_RECEIVERS: frozenset[object] = frozenset()
NTP_EPOCH_OFFSET_MS = 2_208_988_800_000  # 1900-01-01 to 1970-01-01, in milliseconds


def arrival_ms() -> int:
    """Now, in milliseconds since 1900 (NTP's epoch): the value of aiortc's ``current_ms``,
    which builds two datetimes and a timedelta for it (8% of the loop, once a packet)."""
    return int(time.time() * 1000) + NTP_EPOCH_OFFSET_MS


class ReceivePathUnavailable(RuntimeError):
    """The installed aiortc/aioice lack the internals the direct receive path uses."""


def check_compatible() -> None:
    """Raise :class:`ReceivePathUnavailable` unless aiortc/aioice have what we use."""
    version = getattr(aioice, "__version__", "?")
    if not version.startswith(SUPPORTED_AIOICE + "."):
        raise ReceivePathUnavailable(
            f"media.receive_path was written for aioice {SUPPORTED_AIOICE}.x, found {version}: "
            "re-check StunProtocol.datagram_received and Connection._protocols, then update "
            "SUPPORTED_AIOICE and the pin in pyproject.toml"
        )
    if "datagram_received" not in vars(aioice.ice.StunProtocol):
        raise ReceivePathUnavailable(
            f"aioice {version}: StunProtocol.datagram_received is gone; "
            "the direct receive path must be rewritten"
        )
    connection = aioice.ice.Connection(ice_controlling=False)
    if not isinstance(getattr(connection, "_protocols", None), list):
        raise ReceivePathUnavailable(
            f"aioice {version}: Connection._protocols is not a list of protocols any more"
        )
    for name in ("_handle_rtp_data", "_handle_rtcp_data"):
        if not asyncio.iscoroutinefunction(getattr(RTCDtlsTransport, name, None)):
            raise ReceivePathUnavailable(
                f"aiortc: RTCDtlsTransport.{name} is not a coroutine function any more"
            )
    probe = RTCDtlsTransport(
        RTCIceTransport(RTCIceGatherer()), [RTCCertificate.generateCertificate()]
    )
    for attr in ("_rx_srtp", "transport", _RX_BYTES, _RX_PACKETS):
        # (the two counts are added to in the instance's own dict)
        if not hasattr(probe, attr) or (attr.startswith("_RTC") and attr not in vars(probe)):
            raise ReceivePathUnavailable(
                f"aiortc: RTCDtlsTransport has no {attr} any more; "
                "the direct receive path must be rewritten"
            )
    if not isinstance(vars(probe._rtp_header_extensions_map).get(_IDS), HeaderExtensions):
        raise ReceivePathUnavailable(
            f"aiortc: HeaderExtensionsMap.{_IDS} is not a HeaderExtensions any more"
        )
    router = probe._rtp_router
    if not callable(getattr(router, "route_rtp", None)):
        raise ReceivePathUnavailable("aiortc: RTCDtlsTransport._rtp_router.route_rtp is gone")
    if not isinstance(getattr(router, "ssrc_table", None), dict) or not isinstance(
        getattr(router, "payload_type_table", None), dict
    ):
        raise ReceivePathUnavailable(
            "aiortc: RtpRouter's ssrc_table/payload_type_table are not dicts any more"
        )
    receiver = RTCRtpReceiver("video", probe)
    missing = [
        name
        for name in receive_handler.ATTRIBUTES
        if "_RTCRtpReceiver__" + name not in vars(receiver)
    ]
    if missing or not hasattr(receiver, "_enabled"):
        raise ReceivePathUnavailable(
            f"aiortc: RTCRtpReceiver has no {', '.join(missing) or '_enabled'} any more; "
            "media.receive_handler must be rewritten after _handle_rtp_packet"
        )
    stream = StreamStatistics(90000)
    for name in receive_handler.STREAM_ATTRIBUTES:
        if not hasattr(stream, name):
            raise ReceivePathUnavailable(
                f"aiortc: StreamStatistics has no {name} any more; "
                "media.receive_handler.count_packet must be rewritten after its add"
            )
    for name in ("_send_rtcp", "_send_rtcp_nack", "_send_rtcp_pli"):
        if not asyncio.iscoroutinefunction(getattr(RTCRtpReceiver, name, None)):
            raise ReceivePathUnavailable(f"aiortc: RTCRtpReceiver.{name} moved")
    if not isinstance(getattr(receiver, _ESTIMATOR, None), RemoteBitrateEstimator):
        raise ReceivePathUnavailable(
            f"aiortc: RTCRtpReceiver.{_ESTIMATOR} is not a RemoteBitrateEstimator any more"
        )
    if not hasattr(RemoteBitrateEstimator().detector, "hypothesis"):
        raise ReceivePathUnavailable(
            "aiortc: OveruseDetector keeps no hypothesis any more (media.receive_rate reads it)"
        )
    if not hasattr(probe.transport, "_connection"):
        raise ReceivePathUnavailable("aiortc: RTCIceTransport has no _connection any more")


def install(
    pc: RTCPeerConnection,
    consents: Mapping[Connection, consent.Consent] | None = None,
    receive_buffer: int = 0,
) -> int:
    """Receive ``pc``'s SRTP directly; call once its candidates are gathered (after
    ``setLocalDescription``). Each connection's :class:`media.consent.Consent` in
    ``consents`` hears of its authenticated media; each socket asks the kernel for
    ``receive_buffer`` bytes of receive buffer (0: the kernel's default; see
    :func:`widen`). Returns how many sockets were fitted."""
    fitted = 0
    # One estimate per transport, as libwebrtc keeps one for a call: a browser takes each
    # REMB it hears for its whole link, so two video receivers sharing a transport (a
    # camera and its preview), each sending a figure for its own stream, would swing the
    # camera's bitrate between theirs (0.15 and 1.3 Mbit/s, a second apart, in Chromium).
    estimators: dict[RTCDtlsTransport, receive_rate.Estimator] = {}
    for transceiver in pc.getTransceivers():
        receiver = transceiver.receiver
        if isinstance(getattr(receiver, _ESTIMATOR, None), RemoteBitrateEstimator):
            estimator = estimators.get(receiver.transport)
            if estimator is None:
                estimator = estimators[receiver.transport] = receive_rate.Estimator()
            setattr(receiver, _ESTIMATOR, estimator)
    for dtls in {t.receiver.transport for t in pc.getTransceivers()}:
        connection = dtls.transport._connection
        for protocol in connection._protocols:
            if "datagram_received" not in vars(protocol):
                protocol.datagram_received = _direct(  # type: ignore[method-assign,assignment]
                    dtls, protocol, (consents or {}).get(connection)
                )
                if receive_buffer:
                    widen(protocol.transport, receive_buffer)
                fitted += 1
    return fitted


_narrow_logged = False


def widen(transport: Any, size: int) -> int:
    """Ask for ``size`` bytes of receive buffer on a UDP transport's socket; what the
    kernel granted (it caps the request at ``net.core.rmem_max``; logged once, with what
    to raise).

    The kernel's default (``rmem_default``, 208 KiB on Debian) holds under a second of a
    camera's packets: a loop held up longer than that (a collection, a burst of DTLS
    handshakes, a disk that stalls a thread holding the GIL) loses them for good, and
    the recording has a hole (or waits for retransmissions that may not come). A wider
    buffer only fills while the loop is late; it costs no memory otherwise."""
    global _narrow_logged
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None:
        return 0
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
        granted = int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)) // 2  # Linux doubles
    except OSError as exc:
        log.warning("could not set a camera socket's receive buffer: %s", exc)
        return 0
    if granted < size and not _narrow_logged:
        _narrow_logged = True
        log.warning(
            "the kernel granted %d KiB of the %d KiB receive buffer asked for each camera's "
            "UDP socket: raise net.core.rmem_max to at least %d (sysctl) so that a late event "
            "loop loses no media",
            granted // 1024,
            size // 1024,
            size,
        )
    return granted


def _direct(
    dtls: RTCDtlsTransport, protocol: StunProtocol, watch: consent.Consent | None
) -> Callable[[bytes, tuple[Any, ...]], None]:
    fallback = protocol.datagram_received
    # the header extensions' ids: configured in place when receivers register
    ids = vars(dtls._rtp_header_extensions_map)
    counts = vars(dtls)  # its received bytes and packets, for getStats
    router = dtls._rtp_router
    handlers: dict[object, receive_handler.PacketHandler] = {}
    stamp_ms = consent.MEDIA_STAMP_MS
    keys: receive_srtp.Unprotector | None = None  # dtls._rx_srtp's, by libsrtp's own call

    def datagram_received(data: bytes, addr: tuple[Any, ...]) -> None:
        nonlocal keys
        srtp = dtls._rx_srtp
        # RFC 7983: 128-191 is RTP/RTCP; SRTP before the keys exist is dropped by aiortc too
        if srtp is None or not data or not 127 < data[0] < 192:
            fallback(data, addr)
            return
        counts[_RX_BYTES] += len(data)
        counts[_RX_PACKETS] += 1
        arrival_time_ms = arrival_ms()
        if keys is None or keys.session is not srtp:
            keys = receive_srtp.Unprotector(srtp)
        # replayed, forged (None) or malformed (ValueError): aiortc drops it too
        rtcp: bytes | None = None
        if is_rtcp(data):
            rtcp = keys.rtcp(data)
            if rtcp is None:
                return
        else:
            plain = keys.rtp(data)
            if plain is None:
                return
            try:  # RTCDtlsTransport._handle_rtp_data, the header read for what the path needs
                packet = receive_rtp.parse(plain, ids[_IDS])
            except ValueError:
                return
        # authenticated: the peer is there (media.consent); told once a second (or when the
        # wall clock stepped back)
        if watch is not None and not 0 <= arrival_time_ms - watch.media_ms < stamp_ms:
            watch.media_seen(arrival_time_ms, protocol, addr)
        if rtcp is not None:
            run(dtls._handle_rtcp_data(rtcp))
            return
        # RtpRouter.route_rtp's first case, the SSRC known and its payload type the
        # receiver's, read here; aiortc's call for the rest (a new SSRC learnt, or dropped)
        receiver = router.ssrc_table.get(packet.ssrc)
        if receiver is None or receiver not in router.payload_type_table.get(
            packet.payload_type, _NO_RECEIVERS
        ):
            receiver = router.route_rtp(packet)
        if receiver is not None:
            handler = handlers.get(receiver)
            if handler is None:
                handler = handlers[receiver] = receive_handler.PacketHandler(
                    cast(RTCRtpReceiver, receiver), run
                )
            try:
                handler.rtp(packet, arrival_time_ms)
            except Exception:  # as a task of aiortc's would: logged, the next packet goes on
                log.warning("handling a received packet failed", exc_info=True)

    return datagram_received


def run(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` now, up to its first suspension; a task finishes it if it suspends."""
    try:
        waiting = coro.send(None)
    except StopIteration:
        return
    except Exception:
        log.warning("handling a received packet failed", exc_info=True)
        return
    asyncio.get_running_loop().create_task(_finish(coro, waiting))


async def _finish(coro: Coroutine[Any, Any, None], waiting: Any) -> None:
    try:
        await _Resumed(coro, waiting)
    except Exception:
        log.warning("handling a received packet failed", exc_info=True)


class _Resumed:
    """Awaiting it continues a coroutine that was started by hand and is ``waiting`` on
    a future: the task that awaits it waits on that future, then resumes the coroutine."""

    def __init__(self, coro: Coroutine[Any, Any, None], waiting: Any) -> None:
        self._coro = coro
        self._waiting = waiting

    def __await__(self) -> Generator[Any, Any, None]:
        waiting = self._waiting
        while True:
            try:
                sent = yield waiting
            except BaseException as exc:  # cancelled: pass it on, as a task would
                try:
                    waiting = self._coro.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    waiting = self._coro.send(sent)
                except StopIteration:
                    return
