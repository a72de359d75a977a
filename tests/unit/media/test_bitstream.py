from __future__ import annotations

import av
import pytest

from media import bitstream
from tests.support.encoded import opus_packets, video_packets


@pytest.mark.parametrize("size", [(320, 240), (640, 480), (480, 270), (1280, 720)])
def test_vp8_keyframes_and_their_size(size: tuple[int, int]) -> None:
    packets = video_packets("vp8", 3, *size, gop=30)
    key = bitstream.vp8_keyframe(packets[0])
    assert key == bitstream.KeyframeInfo(*size)
    assert all(bitstream.vp8_keyframe(p) is None for p in packets[1:])


@pytest.mark.parametrize("size", [(320, 240), (640, 480), (480, 270), (1280, 720), (176, 144)])
def test_h264_idr_size_from_the_sps_including_cropping(size: tuple[int, int]) -> None:
    packets = video_packets("h264", 3, *size, gop=30)
    key = bitstream.h264_keyframe(packets[0])
    assert key is not None and (key.width, key.height) == size
    assert key.extradata is not None and key.extradata.startswith(b"\x00\x00\x00\x01\x67")
    assert all(bitstream.h264_keyframe(p) is None for p in packets[1:])


def test_truncated_headers_are_errors_not_crashes() -> None:
    key = video_packets("vp8", 1)[0]
    with pytest.raises(bitstream.BitstreamError):
        bitstream.vp8_keyframe(key[:3] + b"\x00\x00\x00" + key[6:])
    idr = video_packets("h264", 1)[0]
    sps_start = idr.index(b"\x00\x00\x01\x67") + 3
    broken = idr[: sps_start + 3]  # SPS cut right after its first bytes, no PPS, no IDR
    assert bitstream.h264_keyframe(broken) is None
    with pytest.raises(bitstream.BitstreamError):
        bitstream.h264_sps_size(idr[sps_start : sps_start + 4])


def test_opus_head_is_the_rfc7845_identification_header() -> None:
    head = bitstream.opus_head()
    assert head[:8] == b"OpusHead" and len(head) == 19
    assert head[8] == 1 and head[9] == 2
    assert int.from_bytes(head[12:16], "little") == 48000


def test_frames_cut_short_or_missing_their_start_are_errors() -> None:
    """What a lost packet leaves behind: a decoder fails on these ("Invalid profile",
    "Header size larger than data provided"), so the recorder must not write them."""
    key, inter = video_packets("vp8", 2, 640, 480)
    with pytest.raises(bitstream.BitstreamError, match="profile"):
        bitstream.vp8_keyframe(bytes([key[0] | 0x0E]) + key[1:])  # version 7
    with pytest.raises(bitstream.BitstreamError, match="larger than the frame"):
        bitstream.vp8_keyframe(key[: len(key) // 20])  # its last packets lost
    with pytest.raises(bitstream.BitstreamError, match="larger than the frame"):
        bitstream.vp8_keyframe(inter[:3])
    assert bitstream.vp8_keyframe(inter) is None
    idr = video_packets("h264", 1)[0]
    with pytest.raises(bitstream.BitstreamError, match="start"):
        bitstream.h264_keyframe(idr[200:])  # its first packets lost


def test_opus_durations_and_the_silence_frame() -> None:
    assert [bitstream.opus_duration(p) for p in opus_packets(3)] == [0.02] * 3
    assert bitstream.opus_duration(bitstream.OPUS_SILENCE) == bitstream.OPUS_SILENCE_S
    assert bitstream.opus_duration(b"") == 0.0
    decoder = av.CodecContext.create("libopus", "r")
    decoder.sample_rate, decoder.layout = 48000, "stereo"
    [frame] = decoder.decode(av.Packet(bitstream.OPUS_SILENCE))
    assert frame.samples == 960 and not frame.to_ndarray().any()
