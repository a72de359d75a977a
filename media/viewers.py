"""Viewer sessions: a proctor's peer connection that receives a candidate's cameras live.

A viewer session watches one candidate (an owner of :class:`media.hub.MediaHub`
sessions). Its offer is receive-only: the first video section gets the
``primary`` camera's picture, the second the ``secondary``'s, and likewise for
audio. Each section is answered with a :class:`media.relay.RelayTrack` bound to
that camera's current source, if any, and the codec that camera sends (VP8
when it is not connected yet). When the candidate's sessions change (new
sources after a reconnect, a camera lost or closed), every viewer of that
candidate is re-bound and told (``on_change``): the picture resumes at the new
source's next keyframe, on the same tracks.

The recording comes first (:mod:`media.load`): from the first viewer session on,
the hub samples the event loop's lag; when it runs late, viewers' video goes
keyframe-only, and later new viewer sessions are refused (``busy``,
:meth:`ViewerHub.admit`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc import sdp as aiortc_sdp
from aiortc.rtcrtpparameters import RTCRtpCodecCapability

from exams.shared.errors import InvalidInput, NotFound, TooLarge
from media import ice
from media.hub import MediaHub, MediaSession
from media.load import LoopLag, ViewerLoad
from media.peers import close_quietly
from media.relay import Relays, RelayTrack
from media.sources import TrackSource

log = logging.getLogger(__name__)

CAMERAS = ("primary", "secondary")
RELAYABLE = {"audio": ("audio/opus",), "video": ("video/VP8", "video/H264")}
DEFAULT_VIDEO = "video/VP8"

ViewerListener = Callable[["ViewerSession", dict[str, Any]], Awaitable[None]]


@dataclass
class ViewerSession:
    id: str
    account_id: str
    candidate_id: str
    exam_id: str
    peer: RTCPeerConnection | None = None
    tracks: dict[tuple[str, str], RelayTrack] = field(default_factory=dict)  # (camera, kind)
    listener: ViewerListener | None = None  # where ``viewer_state`` goes
    reoffer: bool = False

    def describe(self, cameras: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "session_id": self.id,
            "role": "viewer",
            "exam_id": self.exam_id,
            "candidate_id": self.candidate_id,
            "cameras": cameras,
        }


class ViewerHub:
    def __init__(
        self,
        hub: MediaHub,
        configuration: RTCConfiguration,
        *,
        max_sdp_bytes: int = 65536,
        relays: Relays | None = None,
        load: ViewerLoad | None = None,
        sample_lag: bool = True,
    ) -> None:
        self._hub = hub
        self.load = load if load is not None else ViewerLoad()
        # sampled from the first session on (tests inject figures into ``load`` instead)
        self._lag: LoopLag | None = LoopLag(self.load) if sample_lag else None
        # max-bundle: with aiortc's default ("balanced") a second section of a kind keeps a
        # transport that BUNDLE then discards, and its sender never starts (aiortc 1.16).
        self._config = RTCConfiguration(
            iceServers=configuration.iceServers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE
        )
        self._max_sdp = max_sdp_bytes
        self.relays = relays if relays is not None else Relays()
        if self.relays.shedding is None:
            self.relays.shedding = self._shedding
        self._sessions: dict[str, ViewerSession] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- the candidate's cameras -------------------------------------------------------------

    def _camera_session(self, candidate_id: str, camera: str) -> MediaSession | None:
        sessions = [s for s in self._hub.sessions_of(candidate_id) if s.role == camera]
        live = [s for s in sessions if s.peer is not None and s.sources]
        return live[-1] if live else None

    def _source(self, candidate_id: str, camera: str, kind: str) -> TrackSource | None:
        session = self._camera_session(candidate_id, camera)
        if session is None:
            return None
        return next((s for s in session.sources if s.kind == kind and not s.ended), None)

    def cameras(self, candidate_id: str) -> list[dict[str, Any]]:
        """What ``viewer_state`` says of each camera."""
        out = []
        for camera in CAMERAS:
            session = self._camera_session(candidate_id, camera)
            video = self._source(candidate_id, camera, "video")
            audio = self._source(candidate_id, camera, "audio")
            codec = _source_mime(session, video) if video is not None else None
            out.append(
                {
                    "camera": camera,
                    "connected": session is not None and session.state == "connected",
                    "video_codec": None if codec is None else codec.split("/", 1)[1].upper(),
                    "audio": audio is not None,
                }
            )
        return out

    # -- load ------------------------------------------------------------------------------

    def _shedding(self) -> bool:
        return self.load.shedding

    def admit(self) -> None:
        """Raise :class:`~exams.shared.errors.Busy` while the server refuses new viewers
        (its event loop runs late: the recording comes first)."""
        self.load.admit_viewer()

    # -- sessions ----------------------------------------------------------------------------

    def open(
        self,
        account_id: str,
        candidate_id: str,
        exam_id: str,
        listener: ViewerListener | None = None,
        session_id: str | None = None,
    ) -> ViewerSession:
        if self._lag is not None:
            self._lag.start()
        session = ViewerSession(
            session_id or secrets.token_hex(8), account_id, candidate_id, exam_id, listener=listener
        )
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str, account_id: str | None = None) -> ViewerSession | None:
        session = self._sessions.get(session_id)
        if session is None or (account_id is not None and session.account_id != account_id):
            return None
        return session

    def of_candidate(self, candidate_id: str) -> list[ViewerSession]:
        return [s for s in self._sessions.values() if s.candidate_id == candidate_id]

    async def offer(self, session_id: str, account_id: str, sdp: str) -> dict[str, Any]:
        """Answer a viewer's receive-only offer with relay tracks of the candidate's cameras."""
        session = self.get(session_id, account_id)
        if session is None:
            raise NotFound("no such viewer session; open a new one")
        sections = self.check_offer(sdp)
        pc = RTCPeerConnection(configuration=self._config)
        tracks: dict[tuple[str, str], RelayTrack] = {}
        placed: list[tuple[str, str, str]] = []  # (mid, kind, camera)
        count = {"audio": 0, "video": 0}
        try:
            for mid, kind, offered in sections:
                camera = CAMERAS[count[kind]]
                count[kind] += 1
                mime = self._mime_for(session.candidate_id, camera, kind, offered)
                track = RelayTrack(
                    kind,
                    mime,
                    on_mismatch=lambda _t: self._mismatch(session),
                    shedding=self._shedding,
                )
                transceiver = pc.addTransceiver(track, direction="sendonly")
                transceiver.setCodecPreferences(_preferences(kind, mime))
                _forward_keyframe_requests(transceiver.sender, track)
                tracks[(camera, kind)] = track
                placed.append((mid, kind, camera))
            with ice.port_check() as ports_free:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
                await pc.setLocalDescription(await pc.createAnswer())
            ports_free()
        except Exception as exc:
            log.info("viewer %s: an SDP offer failed negotiation: %r", session.id, exc)
            for track in tracks.values():
                track.stop()
            await close_quietly(pc)
            if isinstance(exc, ice.UdpPortsFull):
                raise
            raise InvalidInput(
                "the SDP offer could not be negotiated; send the offer your browser made"
            ) from None
        negotiated = _negotiated(pc.localDescription.sdp)
        for (camera, kind), track in tracks.items():
            mid = next(m for m, k, c in placed if k == kind and c == camera)
            track.mime = negotiated.get(mid, track.mime)
        old_peer, old_tracks = session.peer, session.tracks
        if self._sessions.get(session.id) is not session:  # closed while negotiating
            for track in tracks.values():
                track.stop()
            await close_quietly(pc)
            raise NotFound("this viewer session was closed; open a new one")
        session.peer, session.tracks, session.reoffer = pc, tracks, False
        for track in old_tracks.values():
            track.stop()
        if old_peer is not None:
            self._spawn(close_quietly(old_peer))
        self._bind(session)
        return {
            "type": "answer",
            "sdp": pc.localDescription.sdp,
            "tracks": [
                {
                    "mid": mid,
                    "kind": kind,
                    "camera": camera,
                    "codec": tracks[(camera, kind)].mime.split("/", 1)[1]
                    if kind == "audio"
                    else tracks[(camera, kind)].mime.split("/", 1)[1].upper(),
                }
                for mid, kind, camera in placed
            ],
        }

    async def close(self, session_id: str, account_id: str | None = None) -> ViewerSession | None:
        session = self.get(session_id, account_id)
        if session is None:
            return None
        del self._sessions[session_id]
        for track in session.tracks.values():
            track.stop()
        session.tracks = {}
        if session.peer is not None:
            await close_quietly(session.peer)
        return session

    async def stop(self) -> None:
        if self._lag is not None:
            self._lag.stop()
        for session_id in list(self._sessions):
            await self.close(session_id)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- following the candidate ------------------------------------------------------------

    def candidate_changed(self, session: MediaSession) -> None:
        """Listens on the hub (``on_sources``; state and loss via the async wrappers):
        re-bind the candidate's viewers and tell them."""
        for viewer in self.of_candidate(session.owner):
            self._bind(viewer)
            self._notify(viewer)

    async def candidate_state(self, session: MediaSession, _state: str) -> None:
        self.candidate_changed(session)

    async def candidate_lost(self, session: MediaSession, _reason: str) -> None:
        # The hub has taken the session out of its table already: its camera is gone.
        self.candidate_changed(session)

    def _bind(self, viewer: ViewerSession) -> None:
        for (camera, kind), track in viewer.tracks.items():
            source = self._source(viewer.candidate_id, camera, kind)
            track.bind(None if source is None else self.relays.of(source))
            if track.mismatch:
                viewer.reoffer = True

    def _mismatch(self, viewer: ViewerSession) -> None:
        if not viewer.reoffer:
            viewer.reoffer = True
            self._notify(viewer)

    def _notify(self, viewer: ViewerSession) -> None:
        if viewer.listener is None or self._sessions.get(viewer.id) is not viewer:
            return
        cameras = self.cameras(viewer.candidate_id)
        covered = {camera for camera, _kind in viewer.tracks}
        if any(c["connected"] and c["camera"] not in covered for c in cameras):
            viewer.reoffer = viewer.peer is not None
        state = {**viewer.describe(cameras), "reoffer": viewer.reoffer}
        del state["role"]
        self._spawn(viewer.listener(viewer, state))

    def _spawn(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:
                log.exception("viewer: a background step failed")

        task = asyncio.ensure_future(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _mime_for(self, candidate_id: str, camera: str, kind: str, offered: list[str]) -> str:
        if kind == "audio":
            return "audio/opus"
        source = self._source(candidate_id, camera, "video")
        session = self._camera_session(candidate_id, camera)
        mime = _source_mime(session, source) if source is not None else None
        want = mime or DEFAULT_VIDEO
        for candidate in (want, *offered):
            if candidate.lower() in (o.lower() for o in offered):
                return _canonical(candidate)
        raise InvalidInput(
            f"the offer has no video codec the {camera} camera sends: offer VP8 and H264"
        )

    def check_offer(self, sdp: str) -> list[tuple[str, str, list[str]]]:
        """(mid, kind, relayable codecs offered) per media section of a viewer's offer."""
        if len(sdp.encode()) > self._max_sdp:
            raise TooLarge(f"the SDP offer is larger than {self._max_sdp} bytes")
        try:
            description = aiortc_sdp.SessionDescription.parse(sdp)
        except Exception as exc:
            log.info("a viewer's SDP offer could not be parsed: %r", exc)
            raise InvalidInput(
                "the SDP offer could not be parsed; send the offer your browser made"
            ) from None
        sections: list[tuple[str, str, list[str]]] = []
        count = {"audio": 0, "video": 0}
        for media in description.media:
            if media.kind not in RELAYABLE:
                raise InvalidInput(f"only audio and video are accepted, not {media.kind}")
            count[media.kind] += 1
            if count[media.kind] > len(CAMERAS):
                raise InvalidInput(f"a viewer's offer may carry two {media.kind} sections at most")
            if media.direction != "recvonly":
                raise InvalidInput(f"a viewer's {media.kind} section must receive (recvonly)")
            offered = [
                _canonical(c.mimeType)
                for c in media.rtp.codecs
                if c.mimeType.lower() in (m.lower() for m in RELAYABLE[media.kind])
            ]
            if not offered:
                raise InvalidInput(
                    f"no {media.kind} codec the server relays: offer "
                    + " or ".join(m.split("/")[1] for m in RELAYABLE[media.kind])
                )
            sections.append((str(media.rtp.muxId), media.kind, list(dict.fromkeys(offered))))
        if not sections:
            raise InvalidInput("the offer has no audio or video section")
        if not all(m.ice and m.ice.usernameFragment for m in description.media):
            raise InvalidInput("the offer has no ICE credentials")
        if not all(m.dtls and m.dtls.fingerprints for m in description.media):
            raise InvalidInput("the offer has no DTLS fingerprint (a=fingerprint)")
        mids = [m for m, _k, _c in sections]
        if len(set(mids)) != len(mids):
            raise InvalidInput("two media sections of the offer have the same a=mid")
        bundles = [g for g in description.group if g.semantic == "BUNDLE"]
        if len(bundles) != 1 or set(bundles[0].items) != set(mids):
            # one transport for everything, as browsers offer (and aiortc needs, above)
            raise InvalidInput("the offer must bundle all its media sections (a=group:BUNDLE)")
        return sections


def _canonical(mime: str) -> str:
    kind, name = mime.split("/", 1)
    return f"{kind.lower()}/{'opus' if name.lower() == 'opus' else name.upper()}"


def _source_mime(session: MediaSession | None, source: TrackSource) -> str | None:
    """The codec a camera sends: its frames', or before any, the one its answer put first."""
    if source.codec is not None:
        return _canonical(source.codec.mimeType)
    peer = None if session is None else session.peer
    local = None if peer is None else peer.localDescription
    if local is None:
        return None
    for media in aiortc_sdp.SessionDescription.parse(local.sdp).media:
        if media.kind == source.kind and media.rtp.codecs:
            return _canonical(media.rtp.codecs[0].mimeType)
    return None


def _negotiated(answer_sdp: str) -> dict[str, str]:
    """mid -> the codec the answer sends on it."""
    out = {}
    for media in aiortc_sdp.SessionDescription.parse(answer_sdp).media:
        if media.rtp.codecs:
            out[str(media.rtp.muxId)] = _canonical(media.rtp.codecs[0].mimeType).lower()
    return out


def _preferences(kind: str, mime: str) -> list[RTCRtpCodecCapability]:
    capabilities = RTCRtpSender.getCapabilities(kind)
    assert capabilities is not None
    chosen = [c for c in capabilities.codecs if c.mimeType.lower() == mime.lower()]
    return chosen + [c for c in capabilities.codecs if c.mimeType.lower().endswith("/rtx")]


def _forward_keyframe_requests(sender: RTCRtpSender, track: RelayTrack) -> None:
    """A viewer's PLI/FIR sets a flag for an encoder that is not there (aiortc 1.16's
    ``RTCRtpSender._send_keyframe``): send it on to the candidate's camera instead."""
    if not callable(getattr(sender, "_send_keyframe", None)):  # pragma: no cover - aiortc changed
        raise RuntimeError("aiortc's RTCRtpSender has no _send_keyframe to forward PLIs from")
    sender._send_keyframe = track.request_keyframe  # type: ignore[method-assign]
