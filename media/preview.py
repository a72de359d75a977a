"""The camera's preview: a second, small video track for the proctors' wall.

The wall shows a picture of each camera every 2-3 s (:mod:`media.pictures`), made by
decoding one keyframe. Decoding a whole keyframe of the camera's own track (640x480
to 1280x720) to show it at 320x240 was most of the wall's cost: a node's wall of 40
candidates' two cameras took a fifth of a core for pictures alone (docs/bench.md).
So the page also sends its camera's picture scaled down to fit the wall's picture
(:data:`media.picture_codec.MAX_SIZE`) at a few frames a second, on a video section
of its own that the offer message names (``preview``: its a=mid). The wall asks that
track for its keyframes (a third to a tenth of the decoding); the recorder and live
viewers never see it, and the recorded track no longer gets a keyframe each time a
wall's picture is due (each one costs its picture quality at a fixed bitrate).

aiortc receives no simulcast (RFC 8853's rid layers of one track), which would be the
usual way to send one camera at two sizes; two tracks on two sections are what it can
receive, and every browser can send (a clone of the camera's track). A page that sends
no preview, or whose preview stops, is pictured from its camera's own keyframes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from media.picture_codec import MAX_SIZE
from media.sources import TrackSource

# A preview with no frame for this long (its page stopped it, or it was never started) is
# not sending: the wall pictures the camera's own keyframes until it sends again.
PREVIEW_QUIET_S = 2.0


@dataclass(frozen=True)
class PreviewSpec:
    """What the server asks a camera's preview to be (the offer's answer, ``media.preview``):
    scaled to fit ``width`` x ``height``, at most ``fps`` frames a second and ``max_kbps``."""

    fps: int
    max_kbps: int
    width: int = MAX_SIZE[0]
    height: int = MAX_SIZE[1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "max_kbps": self.max_kbps,
        }


def sending(preview: TrackSource | None, now: float) -> bool:
    """Whether ``preview`` sends now (a frame within :data:`PREVIEW_QUIET_S` of ``now``,
    ``time.monotonic()``): its page sends it while the node pictures the camera."""
    return (
        preview is not None
        and not preview.ended
        and preview.last_frame_at is not None
        and now - preview.last_frame_at < PREVIEW_QUIET_S
    )
