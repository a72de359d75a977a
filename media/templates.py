"""Codec parameters for output streams, without opening an encoder.

``add_stream("vp8")`` gives a stream an encoder context that PyAV opens when
the file starts: a libvpx and a libopus encoder per segment, never used,
about 8 MB and a few milliseconds each. A stream made from a *template*
stream is not opened. The templates are tiny files encoded once per process
and kept open; each segment copies their codec parameters and sets its own
picture size and extradata.
"""

from __future__ import annotations

import io
import threading
from typing import Any

import av
import numpy as np

_ENCODERS = {"vp8": "libvpx", "h264": "libx264", "opus": "libopus"}


class StreamTemplates:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._streams: dict[str, Any] = {}
        self._containers: list[Any] = []  # the templates' streams live as long as these

    def get(self, codec: str) -> Any:
        with self._lock:
            if codec not in self._streams:
                container = _encode_one_frame(codec)
                self._containers.append(container)
                self._streams[codec] = container.streams[0]
            return self._streams[codec]


def _encode_one_frame(codec: str) -> Any:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="matroska") as out:
        frame: av.AudioFrame | av.VideoFrame
        if codec == "opus":
            stream: Any = out.add_stream(_ENCODERS[codec], rate=48000)
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 1920), dtype=np.int16), format="s16", layout="stereo"
            )
            frame.sample_rate = 48000
        else:
            stream = out.add_stream(_ENCODERS[codec])
            stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
            frame = av.VideoFrame(64, 64, "yuv420p")
        frame.pts = 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    buffer.seek(0)
    return av.open(buffer)
