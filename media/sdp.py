"""Small edits to the SDP answer the browser receives."""

from __future__ import annotations

import re

_VIDEO_RTPMAP = re.compile(r"^a=rtpmap:(\d+) (VP8|VP9|H264|AV1)/90000", re.IGNORECASE)
_FMTP = re.compile(r"^a=fmtp:(\d+) ")


def with_start_bitrate(sdp: str, kbps: int) -> str:
    """Tell Chromium to start its video encoder at ``kbps`` (``x-google-start-bitrate``).

    Chromium starts near 300 kbit/s and, with only REMB feedback from aiortc,
    climbs slowly: a take's first seconds come out at 480x270 and the size
    change starts a new segment. Other browsers ignore the parameter.
    """
    if kbps <= 0:
        return sdp
    param = f"x-google-start-bitrate={kbps}"
    lines = sdp.split("\r\n")
    video = {m.group(1) for line in lines if (m := _VIDEO_RTPMAP.match(line))}
    with_fmtp = {m.group(1) for line in lines if (m := _FMTP.match(line))} & video
    out: list[str] = []
    for line in lines:
        fmtp = _FMTP.match(line)
        out.append(f"{line};{param}" if fmtp and fmtp.group(1) in video else line)
        rtpmap = _VIDEO_RTPMAP.match(line)
        if rtpmap and rtpmap.group(1) not in with_fmtp:
            out.append(f"a=fmtp:{rtpmap.group(1)} {param}")
    return "\r\n".join(out)
