"""Each camera's state on the wall, from the hub's sessions and how the last one ended."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiortc import RTCPeerConnection

from exams.proctoring.wall import CameraFacts
from media.hub import MediaSession
from media.live_cameras import LiveCameras
from media.pictures import Picture
from media.remote_cameras import RemoteCameras


class Hub:
    def __init__(self) -> None:
        self.sessions: list[MediaSession] = []

    def sessions_of(self, owner: str) -> list[MediaSession]:
        return [s for s in self.sessions if s.owner == owner]


class Pictures:
    def __init__(self) -> None:
        self.pictures: dict[tuple[str, str], Picture] = {}

    def latest(self, owner: str, camera: str) -> Picture | None:
        return self.pictures.get((owner, camera))


@pytest.fixture
async def peer() -> AsyncIterator[RTCPeerConnection]:
    pc = RTCPeerConnection()  # never connects: only its presence counts here
    yield pc
    await pc.close()


def state(live: LiveCameras, camera: str = "primary") -> str:
    return live.cameras("c1", None)[camera].state


async def test_a_camera_connects_breaks_reconnects_and_is_given_up(
    peer: RTCPeerConnection,
) -> None:
    hub = Hub()
    live = LiveCameras(hub, Pictures(), lambda attempt_id: None)
    assert state(live) == "no_feed"  # no session at all
    first = MediaSession("s1", "c1", "primary")
    hub.sessions.append(first)
    assert state(live) == "no_feed"  # opened, never connected
    first.peer, first.state = peer, "connected"
    await live.session_state(first, "connected")
    assert state(live) == "connected"
    first.state = "closed"  # its connection broke
    await live.session_state(first, "closed")
    assert state(live) == "lost"
    first.state = "connecting"  # a new offer for the same session
    assert state(live) == "reconnecting"
    first.state = "connected"
    assert state(live) == "connected"
    # Given up after the grace period: lost, until a new session connects.
    hub.sessions.remove(first)
    await live.session_closed(first, "connection_lost")
    assert state(live) == "lost"
    second = MediaSession("s2", "c1", "primary")
    hub.sessions.append(second)
    assert state(live) == "lost"
    second.peer, second.state = peer, "connected"
    await live.session_state(second, "connected")
    assert state(live) == "connected"
    # Closed by its page: no feed (nothing went wrong).
    hub.sessions.remove(second)
    await live.session_closed(second, "session_closed")
    assert state(live) == "no_feed"
    assert state(live, "secondary") == "no_feed"


async def test_the_second_camera_and_the_pictures(peer: RTCPeerConnection) -> None:
    hub, pictures = Hub(), Pictures()
    links = {"a1": "ready"}
    live = LiveCameras(hub, pictures, links.get)
    phone = MediaSession("s9", "c1", "secondary", peer=peer, state="connected", attempt_id="a1")
    hub.sessions.append(phone)
    picture = Picture("c1", "secondary", b"jpeg", 320, 240, 123.5, 7, frame=None)
    pictures.pictures[("c1", "secondary")] = picture
    assert live.cameras("c1", "a1")["secondary"] == CameraFacts("connected", 7, 123.5, "ready")
    # Without an open answer its link does not count; the primary is another camera.
    assert live.cameras("c1", None)["secondary"].link is None
    assert live.cameras("c1", "a1")["primary"] == CameraFacts("no_feed")
    # Another session of the same camera going on: one closing does not make it lost.
    other = MediaSession("s8", "c1", "secondary", peer=peer, state="connected")
    await live.session_closed(other, "connection_lost")
    assert state(live, "secondary") == "connected"


class NoBoard:
    async def facts(self, owners: object) -> dict[str, dict[str, object]]:
        return {}

    async def picture(self, owner: str, camera: str) -> None:
        return None


async def test_a_camera_hosted_by_another_node(peer: RTCPeerConnection) -> None:
    """In a cluster: the states another node shares count while this node has no session of
    the candidate; when they stop coming, a live camera is lost and its picture goes."""
    hub = Hub()
    remote = RemoteCameras(NoBoard())
    live = LiveCameras(hub, Pictures(), lambda attempt_id: None, remote=remote)
    assert state(live) == "no_feed"
    assert remote.put("c1", "b", {"primary": "connected", "secondary": "bogus"})
    assert not remote.put("c1", "b", {"primary": "connected"})  # nothing new
    assert (state(live), state(live, "secondary")) == ("connected", "no_feed")
    shared = Picture("c1", "primary", b"jpeg", 320, 240, 5.0, 3, None)
    assert remote.put_picture(shared) and remote.latest("c1", "primary") is shared
    with pytest.raises(ValueError):
        shared.luma()  # no decoded frame: detectors run where the camera is

    # The candidate's camera comes to this node: its own session counts.
    mine = MediaSession("s1", "c1", "primary", peer=peer, state="new")
    hub.sessions.append(mine)
    assert state(live) == "no_feed"
    assert live.states("c1") == {"primary": "no_feed", "secondary": "no_feed"}
    hub.sessions.clear()

    assert remote.gone("c1") and not remote.gone("c1")
    assert state(live) == "lost" and remote.latest("c1", "primary") is None
    remote.forget("c1")
    assert state(live) == "no_feed"
