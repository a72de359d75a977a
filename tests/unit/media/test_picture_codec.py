"""A keyframe into a small JPEG: scaling, decoding only keyframes, the JPEG read back."""

from __future__ import annotations

import fractions
from typing import Any

import av
import numpy as np
import pytest

from media import picture_codec
from media.picture_codec import PictureError, fit, is_keyframe, snapshot
from tests.support.encoded import video_packets
from tests.support.media import read_barcode


def read_jpeg(data: bytes) -> av.VideoFrame:
    decoder = av.CodecContext.create("mjpeg", "r")
    [frame] = decoder.decode(av.Packet(data))
    return frame


@pytest.mark.parametrize(
    "size,fitted",
    [
        ((640, 480), (320, 240)),
        ((1280, 720), (320, 180)),
        ((1920, 1080), (320, 180)),
        ((480, 640), (180, 240)),  # a phone held upright
        ((320, 240), (320, 240)),
        ((160, 120), (160, 120)),  # never scaled up
        ((641, 481), (318, 240)),  # even sides, within the box
        ((4000, 2), (320, 2)),
    ],
)
def test_fit_keeps_the_aspect_within_320x240(
    size: tuple[int, int], fitted: tuple[int, int]
) -> None:
    width, height = fit(*size)
    assert (width, height) == fitted
    assert width <= 320 and height <= 240 and width % 2 == 0 and height % 2 == 0


def test_fit_refuses_an_empty_picture() -> None:
    with pytest.raises(PictureError):
        fit(0, 240)


@pytest.mark.parametrize("codec", ["vp8", "h264"])
def test_a_keyframe_becomes_a_small_jpeg_of_its_picture(codec: str) -> None:
    packets = video_packets(codec, 31, 640, 480, gop=30)
    keys = [i for i, p in enumerate(packets) if is_keyframe(codec, p)]
    assert keys == [0, 30]
    made = snapshot(codec, packets[30])
    assert (made.frame.width, made.frame.height) == (320, 240)
    assert made.cpu_s > 0
    picture = read_jpeg(made.jpeg)
    assert (picture.width, picture.height) == (320, 240)
    assert read_barcode(picture.to_ndarray(format="gray")) == 30
    # The kept frame is the same picture, for detectors.
    assert read_barcode(made.frame.to_ndarray(format="gray")) == 30


def test_a_small_camera_is_not_scaled_up() -> None:
    made = snapshot("vp8", video_packets("vp8", 1, 160, 120)[0])
    assert (made.frame.width, made.frame.height) == (160, 120)
    assert read_jpeg(made.jpeg).width == 160


def test_the_jpeg_keeps_the_colours() -> None:
    """Full-range JPEG from limited-range video: a mid grey stays mid grey."""
    made = snapshot("vp8", video_packets("vp8", 1, 320, 240)[0])
    luma = read_jpeg(made.jpeg).to_ndarray(format="gray")
    source = made.frame.to_ndarray(format="gray")
    assert abs(float(np.mean(luma[40:]) - np.mean(source[40:]))) < 4


@pytest.mark.parametrize("codec", ["vp8", "h264"])
def test_interframes_and_cut_frames_are_not_keyframes(codec: str) -> None:
    packets = video_packets(codec, 2, gop=30)
    assert is_keyframe(codec, packets[0])
    assert not is_keyframe(codec, packets[1])
    assert not is_keyframe(codec, packets[0][40:])  # lost its first packets
    assert not is_keyframe("vp9", packets[0])


def test_an_undecodable_keyframe_is_a_picture_error() -> None:
    key = video_packets("vp8", 1)[0]
    with pytest.raises(PictureError):
        snapshot("vp8", key[:12])
    with pytest.raises(PictureError):
        snapshot("av1", key)


def test_one_decoder_per_keyframe_no_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each picture is decoded by a fresh decoder of one thread: nothing kept between them."""
    made: list[av.CodecContext] = []
    create = av.CodecContext.create

    def counting(name: Any, mode: Any = "r") -> av.CodecContext:
        ctx = create(name, mode)
        if mode == "r":
            made.append(ctx)
        return ctx

    monkeypatch.setattr(picture_codec.av.CodecContext, "create", counting)
    key = video_packets("vp8", 1)[0]
    snapshot("vp8", key)
    snapshot("vp8", key)
    assert len(made) == 2 and all(c.thread_count == 1 for c in made)


def test_a_thread_keeps_its_jpeg_encoder_and_its_pictures_are_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Opening an MJPEG encoder cost more than a third of a picture's JPEG: a worker thread
    keeps one per size, and what it makes is byte for byte a fresh encoder's."""
    key = video_packets("vp8", 1)[0]
    small = snapshot("vp8", key).frame
    fresh = picture_codec._jpeg_encoder(small.width, small.height, picture_codec.JPEG_QUALITY)
    [expected] = fresh.encode(small.reformat(format="yuvj420p"))
    made: list[av.CodecContext] = []
    create = av.CodecContext.create

    def counting(name: Any, mode: Any = "r") -> av.CodecContext:
        ctx = create(name, mode)
        if mode == "w":
            made.append(ctx)
        return ctx

    monkeypatch.setattr(picture_codec.av.CodecContext, "create", counting)
    monkeypatch.setattr(picture_codec, "_local", picture_codec.threading.local())
    pictures = [picture_codec.encode_jpeg(small) for _ in range(3)]
    assert pictures == [bytes(expected)] * 3 and len(made) == 1
    other = small.reformat(width=160, height=120)  # another size: its own encoder
    assert read_jpeg(picture_codec.encode_jpeg(other)).width == 160 and len(made) == 2
    assert picture_codec.encode_jpeg(small) == bytes(expected) and len(made) == 2


def test_a_thread_keeps_its_scalers_and_each_picture_keeps_its_own_pixels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A frame's own ``reformat`` set up a new scaler every picture (more than the scaling
    cost): a worker thread keeps one for scaling and one for the JPEG's full range; the
    pictures they make are new frames (detectors keep them)."""
    made: list[object] = []
    real = picture_codec.VideoReformatter

    def counting() -> object:
        made.append(real())
        return made[-1]

    monkeypatch.setattr(picture_codec, "VideoReformatter", counting)
    monkeypatch.setattr(picture_codec, "_local", picture_codec.threading.local())
    dark, light = flat_keyframes(60, 200)
    first = snapshot("vp8", dark)
    before = first.frame.to_ndarray(format="gray").copy()
    second = snapshot("vp8", light)
    assert len(made) == 2  # scale, full range: kept for the second picture
    assert np.array_equal(first.frame.to_ndarray(format="gray"), before)
    assert second.frame.to_ndarray(format="gray").mean() > before.mean() + 100


def flat_keyframes(*shades: int) -> list[bytes]:
    """A 640x480 VP8 keyframe of each grey ``shades``."""
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 640, 480, "yuv420p"
    encoder.time_base = fractions.Fraction(1, 30)
    packets: list[bytes] = []
    for index, shade in enumerate(shades):
        frame = av.VideoFrame.from_ndarray(
            np.full((720, 640), shade, dtype=np.uint8), format="yuv420p"
        )
        frame.pts = index
        frame.pict_type = av.video.frame.PictureType.I
        packets += [bytes(p) for p in encoder.encode(frame)]
    return packets + [bytes(p) for p in encoder.encode(None)]
