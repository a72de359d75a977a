"""Answering a client's offer with a receive-only aiortc peer connection.

The offer is checked before aiortc sees it (size, one audio and one video
track at most, a codec we can store without transcoding), and every track is
tapped for encoded frames before its receiver starts. A camera may also send a
second, small video track, the *preview* (its picture scaled to fit the wall's
pictures, a few frames a second: :mod:`media.preview`), named by the offer message's
``preview`` (its a=mid): its source is marked :attr:`TrackSource.preview`, the wall
makes its pictures of it, and nothing records it. Its SRTP takes the direct
receive path, and consent freshness is ours (:mod:`media.consent`: a late STUN
answer or the camera's own media keeps the connection).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiortc import (
    RTCBundlePolicy,
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
from media.preview import PreviewSpec
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
        preview: PreviewSpec | None = None,
    ) -> None:
        self._config = configuration(ice_servers, ice_username, ice_credential)
        # an offer with a preview: every section on the one (BUNDLE's) transport, see answer()
        self._bundled = configuration(ice_servers, ice_username, ice_credential, bundled=True)
        self._max_sdp_bytes = max_sdp_bytes
        self._start_bitrate_kbps = start_bitrate_kbps
        self._receive_buffer = receive_buffer_kb * 1024
        self.preview = preview  # what a camera's preview should be; None: asked for none

    async def answer(
        self,
        offer_sdp: str,
        peer_id: str,
        on_sources: Callable[[list[TrackSource]], None],
        profile: MediaProfile = DEFAULT,
        preview_mid: str | None = None,
    ) -> tuple[RTCPeerConnection, str]:
        """A new peer connection for ``offer_sdp``, and the SDP answer for the client
        (asking for the sound and picture of ``profile``, the exam's). ``preview_mid``: the
        a=mid of the offer's preview section, if it has one."""
        order = self.check_offer(offer_sdp, preview_mid)
        # aiortc's default bundle policy (balanced) gives the second video transceiver the
        # first one's transport up front and then leaves it there when BUNDLE moves the
        # first to the bundle's (the microphone's): the preview would arrive on a transport
        # with no receiver of it. An offer with a preview is bundled whole (check_offer), so
        # its sections share one transport from the start.
        pc = RTCPeerConnection(configuration=self._config if preview_mid is None else self._bundled)
        sources: list[TrackSource] = []

        @pc.on("track")
        def on_track(track: object) -> None:
            for transceiver in pc.getTransceivers():
                receiver = transceiver.receiver
                if receiver.track is track:
                    preview = preview_mid is not None and transceiver.mid == preview_mid
                    source = TrackSource(transceiver.kind, receiver, peer_id, preview=preview)
                    tap.install(receiver, source)
                    sources.append(source)

        try:
            # in the offer's order: aiortc gives each section the first free one of its kind
            for kind, mimes in order:
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

    def check_offer(
        self, offer_sdp: str, preview_mid: str | None = None
    ) -> list[tuple[str, list[str]]]:
        """Validate an offer; each section's kind and its storable codecs in the client's
        order. ``preview_mid``: the offer's second video section, the preview, has it."""
        if len(offer_sdp.encode()) > self._max_sdp_bytes:
            raise TooLarge(f"the SDP offer is larger than {self._max_sdp_bytes} bytes")
        try:
            description = aiortc_sdp.SessionDescription.parse(offer_sdp)
        except Exception as exc:
            log.info("an SDP offer could not be parsed: %r", exc)
            raise InvalidInput(
                "the SDP offer could not be parsed; send the offer your browser made"
            ) from None
        if preview_mid is not None and not any(
            m.kind == "video" and m.rtp.muxId == preview_mid for m in description.media
        ):
            raise InvalidInput(f"the offer has no video section with a=mid:{preview_mid}")
        order: list[tuple[str, list[str]]] = []
        kinds: set[str] = set()
        for media in description.media:
            if media.kind not in STORABLE:
                raise InvalidInput(f"only audio and video are accepted, not {media.kind}")
            if media.kind == "video" and preview_mid is not None and media.rtp.muxId == preview_mid:
                if "video" not in kinds:
                    raise InvalidInput("the preview's section must follow the camera's video")
            elif media.kind in kinds:
                raise InvalidInput(f"an offer may carry one {media.kind} track, not more")
            kinds.add(media.kind)
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
            order.append((media.kind, mimes))
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
        if preview_mid is not None and not any(
            g.semantic == "BUNDLE" and set(g.items) == set(mids) for g in description.group
        ):
            raise InvalidInput("an offer with a preview must bundle every section (a=group:BUNDLE)")
        return order


def configuration(
    ice_servers: tuple[str, ...] = (),
    ice_username: str = "",
    ice_credential: str = "",
    *,
    bundled: bool = False,
) -> RTCConfiguration:
    """The server's peer connection configuration (cameras' and viewers' alike);
    ``bundled``: every transceiver on one transport (``max-bundle``)."""
    servers = [
        RTCIceServer(urls=url, username=ice_username or None, credential=ice_credential or None)
        for url in ice_servers
    ]
    # Always explicit: aiortc's default would contact a public STUN server.
    if bundled:
        return RTCConfiguration(iceServers=servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
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
