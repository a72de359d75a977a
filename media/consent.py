"""Consent freshness (RFC 7675) that a late answer, or the peer's own media, satisfies.

aioice 0.13 checks consent on each nominated pair every ~5 s with one STUN binding
request and one wait of ``stun.RETRY_RTO`` (0.5 s): an answer later than that counts as
none, and six such checks in a row close the ICE connection (aiortc then fails the peer
connection and the take's recording of that camera ends). A phone whose uplink queues
its video (round trips over 0.5 s while it uploads are common on mobile networks), or a
server whose event loop falls 0.5 s behind for half a minute, lost its cameras that way
although their authenticated SRTP kept arriving: in a 130-camera bench overload (its
load generator seconds late to answer) every peer connection closed together after
~60 s, most likely so.

RFC 7675 lets consent expire when nothing authenticated came back for 30 s; it asks for
no answer within 0.5 s, and a late answer is still consent (Chromium counts it).
:func:`install` puts a :class:`Consent` in the place of aioice's ``query_consent`` on each
ICE connection of a camera's peer connection: every ~5 s (0.8–1.2 times, as aioice) one
STUN binding request per nominated pair, sent again on STUN's doubling timer (RFC 5389
7.2.1) and answered any time until the next check. Consent stays fresh while an answer
signed with the peer's password came from the pair's remote address, or a datagram the
direct receive path (:mod:`media.receive_path`) unprotected with the call's SRTP keys
came from it, within :data:`EXPIRY_S`. Such a datagram proves the peer holds the
DTLS-SRTP keys and sends from that address, as a STUN answer's MESSAGE-INTEGRITY does;
for a server that only receives media (and sends RTCP back) it is proof the peer is
there. The receive path stamps it at most once a second (:meth:`Consent.media_seen`).
When consent expires the connection is closed as aioice closes it, and why is logged.

aioice starts ``query_consent()`` as ``_query_consent_task`` at the end of ``connect()``
and cancels and awaits that task in ``close()``: an instance attribute in its place is
started and stopped the same way. Written for aioice 0.13: :func:`check_compatible`
names what moved.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import random
import time
from typing import Any

import aioice
import aioice.ice
from aioice import stun
from aioice.ice import CandidatePair, Connection, StunProtocol
from aiortc import RTCPeerConnection

log = logging.getLogger(__name__)

SUPPORTED_AIOICE = "0.13"

CHECK_INTERVAL_S = 5.0  # a check this often, times 0.8–1.2 (aioice's CONSENT_INTERVAL)
EXPIRY_S = 30.0  # consent expires after this long with nothing authenticated (RFC 7675 5.1)
# A check's request goes again 0.5, 1.5 and 3.5 s after the first (RETRY_RTO, doubled each
# time): all before the next check, at 4 s or later, which ends the transaction.
RETRANSMISSIONS = 3
MEDIA_STAMP_MS = 1000  # the receive path stamps a connection's media at most this often


class ConsentUnavailable(RuntimeError):
    """The installed aioice lacks what our consent freshness replaces or uses."""


def check_compatible() -> None:
    """Raise :class:`ConsentUnavailable` unless aioice has what we replace and use."""
    version = getattr(aioice, "__version__", "?")
    if not version.startswith(SUPPORTED_AIOICE + "."):
        raise ConsentUnavailable(
            f"media.consent was written for aioice {SUPPORTED_AIOICE}.x, found {version}: "
            "re-check Connection.connect/close/query_consent, then update SUPPORTED_AIOICE "
            "and the pin in pyproject.toml"
        )
    ice = aioice.ice
    if not inspect.iscoroutinefunction(getattr(ice.Connection, "query_consent", None)):
        raise ConsentUnavailable(f"aioice {version}: Connection.query_consent is gone")
    for method in ("connect", "close"):
        code = getattr(getattr(ice.Connection, method, None), "__code__", None)
        names = code.co_names if code is not None else ()
        if "_query_consent_task" not in names or (
            method == "connect" and "query_consent" not in names
        ):
            raise ConsentUnavailable(
                f"aioice {version}: Connection.{method} no longer starts or stops "
                "self.query_consent() as _query_consent_task; media.consent must be rewritten"
            )
    connection = ice.Connection(ice_controlling=False)
    state = vars(connection)
    if "_query_consent_task" not in state or not isinstance(state.get("_nominated"), dict):
        raise ConsentUnavailable(
            f"aioice {version}: Connection has no _query_consent_task or _nominated dict"
        )
    if "remote_password" not in state or not callable(getattr(connection, "build_request", None)):
        raise ConsentUnavailable(f"aioice {version}: Connection.build_request/remote_password")
    parameters = inspect.signature(ice.StunProtocol.request).parameters
    if not {"integrity_key", "retransmissions"} <= set(parameters):
        raise ConsentUnavailable(
            f"aioice {version}: StunProtocol.request takes no integrity_key/retransmissions"
        )
    if not isinstance(vars(ice.CandidatePair).get("remote_addr"), property):
        raise ConsentUnavailable(f"aioice {version}: CandidatePair.remote_addr is gone")
    if not callable(getattr(stun.Message, "check_message_integrity", None)) or not issubclass(
        getattr(stun, "TransactionError", type), Exception
    ):
        raise ConsentUnavailable(
            f"aioice {version}: stun.Message.check_message_integrity or "
            "stun.TransactionError is gone"
        )


def install(pc: RTCPeerConnection, peer_id: str) -> dict[Connection, Consent]:
    """Check consent our way on ``pc``'s ICE connections; call before they connect (after
    ``setLocalDescription``, beside the receive path's install). Each one's
    :class:`Consent`, for the receive path's media stamps."""
    consents: dict[Connection, Consent] = {}
    for transceiver in pc.getTransceivers():
        connection = transceiver.receiver.transport.transport._connection
        if connection in consents:
            continue
        consent = consents[connection] = Consent(connection, peer_id)
        connection.query_consent = consent.keep  # type: ignore[method-assign]
        task = connection._query_consent_task
        if task is not None and not task.done():  # connect() already started aioice's
            task.cancel()
            connection._query_consent_task = asyncio.create_task(consent.keep())
    return consents


class Consent:
    """Consent freshness of one aioice connection (see the module)."""

    __slots__ = ("_answered_at", "_connection", "_media_at", "_peer_id", "answers", "media_ms")

    def __init__(self, connection: Connection, peer_id: str) -> None:
        self.media_ms = 0  # the receive path's last stamp, its arrival clock (ms)
        self.answers = 0  # authenticated answers to our checks, late ones too
        self._connection = connection
        self._peer_id = peer_id
        self._answered_at = -math.inf  # time.monotonic() of the newest answer
        self._media_at = -math.inf  # ... of the newest stamped media from the nominated pair

    def media_seen(self, arrival_ms: int, protocol: StunProtocol, addr: tuple[Any, ...]) -> None:
        """A datagram from ``addr`` on ``protocol`` was unprotected with the SRTP keys
        (the receive path calls this at most every :data:`MEDIA_STAMP_MS`)."""
        self.media_ms = arrival_ms
        for pair in self._connection._nominated.values():
            if pair.protocol is protocol and pair.remote_addr == (addr[0], addr[1]):
                self._media_at = time.monotonic()
                return

    async def keep(self) -> None:
        """Check consent until it expires, then close the connection: aioice's consent
        task (started at the end of ``connect()``, cancelled and awaited by ``close()``)."""
        connection = self._connection
        assert connection.remote_password is not None  # connect() had it
        key = connection.remote_password.encode("utf8")
        self._answered_at = time.monotonic()  # the connectivity checks were just answered
        asking: set[asyncio.Task[None]] = set()
        try:
            while True:
                await asyncio.sleep(CHECK_INTERVAL_S * (0.8 + 0.4 * random.random()))
                for task in asking:
                    task.cancel()  # an answer counts until the next check
                if time.monotonic() - max(self._answered_at, self._media_at) >= EXPIRY_S:
                    break
                for pair in list(connection._nominated.values()):
                    task = asyncio.create_task(self._ask(pair, key))
                    asking.add(task)
                    task.add_done_callback(asking.discard)
        finally:
            for task in asking:
                task.cancel()
            if asking:
                await asyncio.wait(asking)
        log.info(
            "peer %s: consent to send expired on %s: the last authenticated STUN answer %s, "
            "the last authenticated media %s (%d consent checks answered); closing its ICE "
            "connection",
            self._peer_id,
            list(connection._nominated.values()),
            _ago(self._answered_at),
            _ago(self._media_at),
            self.answers,
        )
        connection._query_consent_task = None  # so close() does not cancel this task
        await connection.close()

    async def _ask(self, pair: CandidatePair, key: bytes) -> None:
        request = self._connection.build_request(pair, nominate=False)
        try:
            response, addr = await pair.protocol.request(
                request, pair.remote_addr, integrity_key=key, retransmissions=RETRANSMISSIONS
            )
        except stun.TransactionError:
            return  # an error answer, or none before the timer gave up: no news
        except OSError:
            log.debug("peer %s: a consent check could not be sent", self._peer_id, exc_info=True)
            return
        if addr == pair.remote_addr and response.check_message_integrity(key):
            self._answered_at = time.monotonic()
            self.answers += 1


def _ago(when: float) -> str:
    return "never" if when == -math.inf else f"{time.monotonic() - when:.1f} s ago"
