"""Small edits to the SDP answer the browser receives.

A browser sends what the *answer's* ``a=fmtp`` asks for: aiortc's answer has
none for Opus (so Chromium encodes mono voice at ~32 kbit/s) and none for the
video bitrates. These add parameters to the codecs' ``a=fmtp`` lines, or an
``a=fmtp`` line right after the ``a=rtpmap`` of a codec that has none.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from exams.catalog.media_profile import MediaProfile

_VIDEO_RTPMAP = re.compile(r"^a=rtpmap:(\d+) (VP8|VP9|H264|AV1)/90000", re.IGNORECASE)
_OPUS_RTPMAP = re.compile(r"^a=rtpmap:(\d+) opus/48000(/\d+)?$", re.IGNORECASE)
_FMTP = re.compile(r"^a=fmtp:(\d+) (.*)$")


def tuned(answer_sdp: str, profile: MediaProfile, start_bitrate_kbps: int) -> str:
    """The answer with the Opus and video parameters ``profile`` (the exam's) asks for.

    Every video section gets the same start and minimum bitrates, a camera's preview
    (media.preview) too: Chromium takes its call's bandwidth floor and start from the
    video section it configures last, so a preview's section without them lifted the
    camera's floor (its picture fell to 480x270 at 12 fps on a busy test machine); the
    preview's own sender is held to its ceiling by its encoding's ``maxBitrate``."""
    answer_sdp = with_opus(answer_sdp, profile.opus_fmtp())
    answer_sdp = with_ptime(answer_sdp, profile.ptime_ms())
    return with_video_bitrates(answer_sdp, start_bitrate_kbps, profile.target.min_kbps)


def with_fmtp(sdp: str, rtpmap: re.Pattern[str], params: Mapping[str, str]) -> str:
    """``params`` set on the ``a=fmtp`` of every codec whose ``a=rtpmap`` matches
    ``rtpmap`` (a value already there is replaced, the others kept in their order)."""
    if not params:
        return sdp
    lines = sdp.split("\r\n")
    chosen = {m.group(1) for line in lines if (m := rtpmap.match(line))}
    with_line = {m.group(1) for line in lines if (m := _FMTP.match(line))} & chosen
    out: list[str] = []
    for line in lines:
        fmtp = _FMTP.match(line)
        if fmtp and fmtp.group(1) in chosen:
            line = f"a=fmtp:{fmtp.group(1)} {_merged(fmtp.group(2), params)}"
        out.append(line)
        m = rtpmap.match(line)
        if m and m.group(1) not in with_line:
            out.append(f"a=fmtp:{m.group(1)} {_merged('', params)}")
    return "\r\n".join(out)


def _merged(existing: str, params: Mapping[str, str]) -> str:
    pairs: list[tuple[str, str | None]] = []
    for item in (p.strip() for p in existing.split(";")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        pairs.append((key, value if sep else None))
    keys = {k for k, _ in pairs}
    pairs = [(k, params[k] if k in params else v) for k, v in pairs]
    pairs += [(k, v) for k, v in params.items() if k not in keys]
    return ";".join(k if v is None else f"{k}={v}" for k, v in pairs)


def with_opus(sdp: str, params: Mapping[str, str]) -> str:
    """``params`` on Opus's ``a=fmtp`` (RFC 7587: stereo, maxaveragebitrate, usedtx, ...)."""
    return with_fmtp(sdp, _OPUS_RTPMAP, params)


def with_ptime(sdp: str, ptime_ms: int | None) -> str:
    """``a=ptime`` (RFC 4566 6) at the end of every audio section, in place of one there:
    how much sound a browser puts in a packet. Chromium's Opus encoder takes the shortest
    frame length it has (10, 20, 40, 60 ms) at or above it. None leaves the answer as it is.
    """
    if ptime_ms is None:
        return sdp
    out: list[str] = []
    audio = False
    for line in sdp.split("\r\n"):
        if line.startswith("m="):
            if audio:
                out.append(f"a=ptime:{ptime_ms}")
            audio = line.startswith("m=audio ")
        elif audio and line.startswith("a=ptime:"):
            continue
        elif audio and not line:  # the end of the last section
            out.append(f"a=ptime:{ptime_ms}")
            audio = False
        out.append(line)
    if audio:
        out.append(f"a=ptime:{ptime_ms}")
    return "\r\n".join(out)


def with_video_bitrates(sdp: str, start_kbps: int, min_kbps: int = 0) -> str:
    """Tell Chromium to start its video encoder at ``start_kbps``
    (``x-google-start-bitrate``) and keep its estimate above ``min_kbps``
    (``x-google-min-bitrate``); 0 leaves either alone.

    Chromium starts near 300 kbit/s and, with only REMB feedback from aiortc,
    climbs slowly: a take's first seconds come out at 480x270 and the size
    change starts a new segment. Other browsers ignore the parameters.
    """
    params = {}
    if start_kbps > 0:
        params["x-google-start-bitrate"] = str(start_kbps)
    if min_kbps > 0:
        params["x-google-min-bitrate"] = str(min_kbps)
    return with_fmtp(sdp, _VIDEO_RTPMAP, params)


def with_start_bitrate(sdp: str, kbps: int) -> str:
    """Only the start bitrate (:func:`with_video_bitrates`)."""
    return with_video_bitrates(sdp, kbps)
