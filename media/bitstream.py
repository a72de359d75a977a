"""What the recorder needs to know about an encoded frame without decoding it.

Keyframe or not, and the picture size a keyframe starts: read from the VP8
frame header (RFC 6386 9.1) or the H.264 sequence parameter set (ITU-T H.264
7.3.2.1.1). Also the Opus identification header Matroska wants (RFC 7845 5.1).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

H264_NAL_IDR = 5
H264_NAL_SPS = 7
H264_NAL_PPS = 8
_START_CODE = b"\x00\x00\x00\x01"
_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


class BitstreamError(ValueError):
    """An encoded frame is too short or malformed to read its header."""


@dataclass(frozen=True, slots=True)
class KeyframeInfo:
    width: int
    height: int
    extradata: bytes | None = None  # H.264: SPS + PPS in Annex B form


def vp8_keyframe(data: bytes) -> KeyframeInfo | None:
    """The picture size if ``data`` is a VP8 keyframe, else None (an interframe).

    The 3-byte frame tag is checked for every frame: a frame that lost its
    first packets starts mid-stream and fails here, as it would in a decoder
    ("Invalid profile", "Header size larger than data provided").
    """
    if len(data) < 3:
        raise BitstreamError("VP8 frame shorter than its frame tag")
    tag = data[0] | data[1] << 8 | data[2] << 16
    if (tag >> 1) & 0x07 > 3:
        raise BitstreamError(f"VP8 frame with invalid profile {(tag >> 1) & 0x07}")
    keyframe = not tag & 0x01
    header = 10 if keyframe else 3
    if tag >> 5 > len(data) - header:
        raise BitstreamError("VP8 first partition is larger than the frame (frame cut short)")
    if not keyframe:
        return None
    if data[3:6] != b"\x9d\x01\x2a":
        raise BitstreamError("VP8 keyframe without its start code")
    width, height = struct.unpack_from("<HH", data, 6)
    return KeyframeInfo(width & 0x3FFF, height & 0x3FFF)


def h264_nal_units(data: bytes) -> list[bytes]:
    """Split an Annex B access unit into NAL units (without start codes)."""
    units: list[bytes] = []
    i = data.find(b"\x00\x00\x01")
    while i != -1:
        start = i + 3
        nxt = data.find(b"\x00\x00\x01", start)
        end = len(data) if nxt == -1 else nxt
        unit = data[start:end]
        if nxt != -1 and unit.endswith(b"\x00"):
            unit = unit[:-1]  # the extra zero of a four-byte start code
        if unit:
            units.append(unit)
        i = nxt
    return units


def h264_keyframe(data: bytes) -> KeyframeInfo | None:
    """The picture size (and SPS/PPS) if ``data`` is an H.264 IDR access unit, else None.

    An access unit that does not start with a start code lost its first packets
    (aiortc writes one in front of every NAL unit it depacketises).
    """
    if not (data.startswith(b"\x00\x00\x01") or data.startswith(_START_CODE)):
        raise BitstreamError("H.264 access unit does not start with a NAL unit (frame cut short)")
    units = h264_nal_units(data)
    types = [u[0] & 0x1F for u in units]
    if H264_NAL_IDR not in types:
        return None
    sps = next((u for u in units if u[0] & 0x1F == H264_NAL_SPS), None)
    pps = next((u for u in units if u[0] & 0x1F == H264_NAL_PPS), None)
    if sps is None or pps is None:
        raise BitstreamError("H.264 IDR frame without SPS and PPS in front of it")
    width, height = h264_sps_size(sps)
    return KeyframeInfo(width, height, _START_CODE + sps + _START_CODE + pps)


class _Bits:
    def __init__(self, rbsp: bytes) -> None:
        self._data = rbsp
        self._pos = 0

    def u(self, n: int) -> int:
        value = 0
        for _ in range(n):
            byte = self._pos >> 3
            if byte >= len(self._data):
                raise BitstreamError("H.264 SPS ends early")
            value = (value << 1) | ((self._data[byte] >> (7 - (self._pos & 7))) & 1)
            self._pos += 1
        return value

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise BitstreamError("H.264 SPS has an invalid Exp-Golomb code")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


def _unescape(nal: bytes) -> bytes:
    """Remove emulation-prevention bytes (00 00 03 -> 00 00)."""
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")


def h264_sps_size(sps: bytes) -> tuple[int, int]:
    """Width and height in pixels from a sequence parameter set NAL unit."""
    bits = _Bits(_unescape(sps[1:]))
    profile_idc = bits.u(8)
    bits.u(16)  # constraint flags, level_idc
    bits.ue()  # seq_parameter_set_id
    chroma_format_idc = 1
    separate_colour_plane = 0
    if profile_idc in _HIGH_PROFILES:
        chroma_format_idc = bits.ue()
        if chroma_format_idc == 3:
            separate_colour_plane = bits.u(1)
        bits.ue()  # bit_depth_luma_minus8
        bits.ue()  # bit_depth_chroma_minus8
        bits.u(1)  # qpprime_y_zero_transform_bypass_flag
        if bits.u(1):  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma_format_idc != 3 else 12):
                if bits.u(1):
                    _skip_scaling_list(bits, 16 if i < 6 else 64)
    bits.ue()  # log2_max_frame_num_minus4
    poc_type = bits.ue()
    if poc_type == 0:
        bits.ue()
    elif poc_type == 1:
        bits.u(1)
        bits.se()
        bits.se()
        for _ in range(bits.ue()):
            bits.se()
    bits.ue()  # max_num_ref_frames
    bits.u(1)  # gaps_in_frame_num_value_allowed_flag
    width_mbs = bits.ue() + 1
    height_map_units = bits.ue() + 1
    frame_mbs_only = bits.u(1)
    if not frame_mbs_only:
        bits.u(1)  # mb_adaptive_frame_field_flag
    bits.u(1)  # direct_8x8_inference_flag
    width = width_mbs * 16
    height = (2 - frame_mbs_only) * height_map_units * 16
    if bits.u(1):  # frame_cropping_flag
        left, right, top, bottom = bits.ue(), bits.ue(), bits.ue(), bits.ue()
        if chroma_format_idc == 0 or separate_colour_plane:
            crop_x, crop_y = 1, 2 - frame_mbs_only
        else:
            crop_x = 2 if chroma_format_idc in (1, 2) else 1
            crop_y = (2 if chroma_format_idc == 1 else 1) * (2 - frame_mbs_only)
        width -= crop_x * (left + right)
        height -= crop_y * (top + bottom)
    if width <= 0 or height <= 0:
        raise BitstreamError("H.264 SPS gives an empty picture")
    return width, height


def _skip_scaling_list(bits: _Bits, size: int) -> None:
    last, nxt = 8, 8
    for _ in range(size):
        if nxt != 0:
            nxt = (last + bits.se() + 256) % 256
        last = nxt if nxt != 0 else last


def opus_head(channels: int = 2, sample_rate: int = 48000, pre_skip: int = 312) -> bytes:
    """An OpusHead for Matroska CodecPrivate (channel mapping family 0)."""
    return b"OpusHead" + struct.pack("<BBHIhB", 1, channels, pre_skip, sample_rate, 0, 0)


# A 20 ms Opus frame (CELT-only, fullband, one frame) whose payload decodes to silence;
# the frame WebRTC servers write where audio packets were lost.
OPUS_SILENCE = b"\xf8\xff\xfe"
OPUS_SILENCE_S = 0.02
_OPUS_FRAME_MS = (
    (10.0, 20.0, 40.0, 60.0) * 3  # SILK-only, configs 0-11
    + (10.0, 20.0) * 2  # hybrid, configs 12-15
    + (2.5, 5.0, 10.0, 20.0) * 4  # CELT-only, configs 16-31
)


def opus_duration(packet: bytes) -> float:
    """Seconds of sound in an Opus packet, from its TOC byte (RFC 6716 3.1); 0 if empty."""
    if not packet:
        return 0.0
    toc = packet[0]
    code = toc & 0x03
    frames = 1 if code == 0 else 2 if code < 3 else (packet[1] & 0x3F if len(packet) > 1 else 0)
    return _OPUS_FRAME_MS[toc >> 3] * frames / 1000
