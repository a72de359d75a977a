"""What this node knows of the cameras of candidates hosted by other nodes, for its walls.

Filled by :class:`media.wall_sharing.WallSharing` from the facts and pictures the hosting
node shares (docs/decisions/0028), for the owners this node's walls watch and it does not
host; read on the loop, without waiting, by :class:`media.pictures.WallPictures`
(``latest``) and :class:`media.live_cameras.LiveCameras` (each camera's state). Bounded
by the owners the walls watch: an owner no wall here watches any more is forgotten.

When the facts of an owner stop coming (its node stopped or died, or it has no camera
any more), a camera that was connected or reconnecting shows ``lost`` and its picture goes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from media.pictures import CAMERAS, Picture

STATES = ("connected", "reconnecting", "lost", "no_feed")


class PictureSource(Protocol):
    """Implemented by ``storage.redis_wall.RedisWallBoard``."""

    async def facts(self, owners: Iterable[str]) -> dict[str, dict[str, Any]]: ...

    async def picture(self, owner: str, camera: str) -> tuple[dict[str, Any], bytes] | None: ...


@dataclass
class RemoteOwner:
    node: str | None  # None: its facts are gone (the states say what was last known)
    states: dict[str, str]  # camera -> state
    pictures: dict[str, Picture] = field(default_factory=dict)  # camera -> latest picture


def picture_of(owner: str, camera: str, header: Mapping[str, Any], jpeg: bytes) -> Picture | None:
    """A shared picture as a :class:`Picture` (no decoded frame: detectors run where the
    camera is), or None when its header is not one."""
    try:
        seq, taken_at = int(header["seq"]), float(header["taken_at"])
        width, height = int(header["width"]), int(header["height"])
    except (KeyError, TypeError, ValueError):
        return None
    return Picture(owner, camera, jpeg, width, height, taken_at, seq, None)


class RemoteCameras:
    def __init__(self, source: PictureSource) -> None:
        self._source = source
        self._owners: dict[str, RemoteOwner] = {}

    # -- read by the wall (on the loop) ---------------------------------------------------

    def has(self, owner: str) -> bool:
        return owner in self._owners

    def state(self, owner: str, camera: str) -> str | None:
        found = self._owners.get(owner)
        return None if found is None else found.states.get(camera, "no_feed")

    def latest(self, owner: str, camera: str) -> Picture | None:
        found = self._owners.get(owner)
        return None if found is None else found.pictures.get(camera)

    async def fetch(self, owner: str, camera: str) -> Picture | None:
        """The shared picture of an owner this node's walls do not watch (the picture URL
        asked of any node): read from the board while its node shares its facts, not kept."""
        if self.has(owner):
            return self.latest(owner, camera)
        if owner not in await self._source.facts([owner]):
            return None  # no node hosts the camera now: its last picture is not shown
        found = await self._source.picture(owner, camera)
        return None if found is None else picture_of(owner, camera, *found)

    # -- written by the sharing -------------------------------------------------------------

    def get(self, owner: str) -> RemoteOwner | None:
        return self._owners.get(owner)

    def put(self, owner: str, node: str, states: Mapping[str, Any]) -> bool:
        """The owner's facts as its node shares them; whether anything shown changed."""
        clean = {c: s if s in STATES else "no_feed" for c in CAMERAS for s in [states.get(c)]}
        found = self._owners.get(owner)
        if found is None:
            self._owners[owner] = RemoteOwner(node, clean)
            return True
        changed = found.node != node or found.states != clean
        found.node, found.states = node, clean
        return changed

    def put_picture(self, picture: Picture) -> bool:
        found = self._owners.get(picture.owner)
        if found is None:
            return False
        was = found.pictures.get(picture.camera)
        if was is not None and (was.seq, was.taken_at) == (picture.seq, picture.taken_at):
            return False
        found.pictures[picture.camera] = picture
        return True

    def drop_picture(self, owner: str, camera: str) -> bool:
        found = self._owners.get(owner)
        return found is not None and found.pictures.pop(camera, None) is not None

    def gone(self, owner: str) -> bool:
        """The owner's facts are no longer shared: cameras that were live are lost, the
        pictures go. Whether anything shown changed."""
        found = self._owners.get(owner)
        if found is None or found.node is None:
            return False
        found.node = None
        found.states = {
            c: "lost" if s in ("connected", "reconnecting", "lost") else "no_feed"
            for c, s in found.states.items()
        }
        found.pictures.clear()
        return True

    def forget(self, owner: str) -> None:
        self._owners.pop(owner, None)

    def owners(self) -> list[str]:
        return list(self._owners)
