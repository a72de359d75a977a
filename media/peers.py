"""Answering a client's offer with a receive-only aiortc peer connection.

The offer is checked before aiortc sees it (size, one audio and one video
track at most, a codec we can store without transcoding), and every track is
tapped for encoded frames before its receiver starts. Its SRTP takes the direct
receive path, and consent freshness is ours (:mod:`media.consent`: a late STUN
answer or the camera's own media keeps the connection).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCSessionDescription,
)
from aiortc import sdp as aiortc_sdp
from aiortc.rtcrtpparameters import RTCRtpCodecCapability

from exams.catalog.media_profile import DEFAULT, MediaProfile
from exams.shared.errors import InvalidInput, TooLarge
from media import consent, ice, receive_path, tap
from media.sdp import tuned
from media.sources import TrackSource

log = logging.getLogger(__name__)

# Codecs a take can be stored in without transcoding (WebM/Matroska).
STORABLE = {"audio": ("audio/opus",), "video": ("video/VP8", "video/H264")}


class PeerFactory:
    def __init__(
        self,
        ice_servers: tuple[str, ...] = (),
        ice_username: str = "",
        ice_credential: str = "",
        max_sdp_bytes: int = 65536,
        start_bitrate_kbps: int = 0,
        receive_buffer_kb: int = 0,
    ) -> None:
        self._config = configuration(ice_servers, ice_username, ice_credential)
        self._max_sdp_bytes = max_sdp_bytes
        self._start_bitrate_kbps = start_bitrate_kbps
        self._receive_buffer = receive_buffer_kb * 1024

    async def answer(
        self,
        offer_sdp: str,
        peer_id: str,
        on_sources: Callable[[list[TrackSource]], None],
        profile: MediaProfile = DEFAULT,
    ) -> tuple[RTCPeerConnection, str]:
        """A new peer connection for ``offer_sdp``, and the SDP answer for the client
        (asking for the sound and picture of ``profile``, the exam's)."""
        order = self.check_offer(offer_sdp)
        pc = RTCPeerConnection(configuration=self._config)
        sources: list[TrackSource] = []

        @pc.on("track")
        def on_track(track: object) -> None:
            for transceiver in pc.getTransceivers():
                receiver = transceiver.receiver
                if receiver.track is track:
                    source = TrackSource(transceiver.kind, receiver, peer_id)
                    tap.install(receiver, source)
                    sources.append(source)

        try:
            for kind, mimes in order.items():
                transceiver = pc.addTransceiver(kind, direction="recvonly")
                transceiver.setCodecPreferences(_preferences(kind, mimes))
            with ice.port_check() as ports_free:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
                await pc.setLocalDescription(await pc.createAnswer())
            ports_free()
            receive_path.install(pc, consent.install(pc, peer_id), self._receive_buffer)
        except Exception as exc:
            # aiortc's own words are for us, not the client; a half-set-up peer may
            # fail to close too.
            log.info("peer %s: an SDP offer failed negotiation: %r", peer_id, exc)
            await close_quietly(pc)
            if isinstance(exc, ice.UdpPortsFull):
                raise
            raise InvalidInput(
                "the SDP offer could not be negotiated; send the offer your browser made"
            ) from None
        on_sources(sources)
        return pc, tuned(pc.localDescription.sdp, profile, self._start_bitrate_kbps)

    def check_offer(self, offer_sdp: str) -> dict[str, list[str]]:
        """Validate an offer; the storable codecs of each kind in the client's order."""
        if len(offer_sdp.encode()) > self._max_sdp_bytes:
            raise TooLarge(f"the SDP offer is larger than {self._max_sdp_bytes} bytes")
        try:
            description = aiortc_sdp.SessionDescription.parse(offer_sdp)
        except Exception as exc:
            log.info("an SDP offer could not be parsed: %r", exc)
            raise InvalidInput(
                "the SDP offer could not be parsed; send the offer your browser made"
            ) from None
        order: dict[str, list[str]] = {}
        for media in description.media:
            if media.kind not in STORABLE:
                raise InvalidInput(f"only audio and video are accepted, not {media.kind}")
            if media.kind in order:
                raise InvalidInput(f"an offer may carry one {media.kind} track, not more")
            if media.direction not in ("sendonly", "sendrecv"):
                raise InvalidInput(f"the {media.kind} track must be sent (sendonly)")
            mimes = []
            for codec in media.rtp.codecs:
                for mime in STORABLE[media.kind]:
                    if codec.mimeType.lower() == mime.lower() and mime not in mimes:
                        mimes.append(mime)
            if not mimes:
                raise InvalidInput(
                    f"no {media.kind} codec we can record: send "
                    + " or ".join(m.split("/")[1] for m in STORABLE[media.kind])
                )
            order[media.kind] = mimes
        if not order:
            raise InvalidInput("the offer has no audio or video track")
        if not description.media or not all(
            m.ice and m.ice.usernameFragment for m in description.media
        ):
            raise InvalidInput("the offer has no ICE credentials")
        if not all(m.dtls and m.dtls.fingerprints for m in description.media):
            # aiortc would accept it, then fail an assertion in a task of its own (a traceback
            # in the log per offer) once the transport starts
            raise InvalidInput("the offer has no DTLS fingerprint (a=fingerprint)")
        mids = [m.rtp.muxId for m in description.media]
        if len(set(mids)) != len(mids):
            raise InvalidInput("two media sections of the offer have the same a=mid")
        for group in description.group:
            if group.semantic == "BUNDLE" and not set(group.items) <= set(mids):
                # aiortc would bundle onto a transport that does not exist
                raise InvalidInput("the offer's BUNDLE group names a media section it lacks")
        return order


def configuration(
    ice_servers: tuple[str, ...] = (), ice_username: str = "", ice_credential: str = ""
) -> RTCConfiguration:
    """The server's peer connection configuration (cameras' and viewers' alike)."""
    servers = [
        RTCIceServer(urls=url, username=ice_username or None, credential=ice_credential or None)
        for url in ice_servers
    ]
    # Always explicit: aiortc's default would contact a public STUN server.
    return RTCConfiguration(iceServers=servers)


def _preferences(kind: str, mimes: list[str]) -> list[RTCRtpCodecCapability]:
    capabilities = RTCRtpReceiver.getCapabilities(kind)
    assert capabilities is not None
    chosen = []
    for mime in mimes:
        chosen += [c for c in capabilities.codecs if c.mimeType.lower() == mime.lower()]
    chosen += [c for c in capabilities.codecs if c.mimeType.lower().endswith("/rtx")]
    return chosen


async def close_quietly(pc: RTCPeerConnection) -> None:
    try:
        await asyncio.wait_for(pc.close(), timeout=5)
    except Exception:
        log.debug("closing a peer connection failed", exc_info=True)
