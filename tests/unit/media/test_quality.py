"""The quality meter on frames made here (real VP8 and Opus from libvpx/libopus, times set
by the test): frames per second and the seconds below 15, picture sizes from keyframe
headers, lost stretches from the recorder's gaps, audio holes, channels from the Opus TOC,
the band from a sampled decode, black and frozen from decoded keyframes."""

from __future__ import annotations

import asyncio
import fractions
import time
from concurrent.futures import Future
from typing import Any

import numpy as np
import pytest
from aiortc.codecs.vpx import Vp8Encoder
from av import AudioFrame, CodecContext, Packet, VideoFrame

from bench.clip import make_black, make_clip
from media import picture_codec, quality
from media.quality import QualityMeter, bandwidth_hz, take_report
from tests.support.media import _picture
from tests.support.quality import sample_decodes


class Camera:
    """VP8 frames as libvpx makes them (one payload per frame, joined)."""

    def __init__(self) -> None:
        self._enc = Vp8Encoder()
        self._n = 0

    def frame(
        self,
        width: int = 320,
        height: int = 240,
        *,
        black: bool = False,
        still: bool = False,
        key: bool = False,
    ) -> bytes:
        index = 0 if still else self._n
        img = (
            np.zeros((height * 3 // 2, width), np.uint8)
            if black
            else _picture(width, height, index, False)
        )
        vf = VideoFrame.from_ndarray(img, format="yuv420p")
        vf.pts = self._n * 3000
        vf.time_base = fractions.Fraction(1, 90000)
        self._n += 1
        payloads, _ = self._enc.encode(vf, force_keyframe=key)
        return _depacketize(payloads)


def _depacketize(payloads: list[bytes]) -> bytes:
    """Strip aiortc's VP8 payload descriptors (RFC 7741) to get the frame back."""
    out = b""
    for p in payloads:
        i = 1
        if p[0] & 0x80:  # X
            x = p[1]
            i = 2
            if x & 0x80:  # I
                i += 2 if p[i] & 0x80 else 1
            if x & 0x40:
                i += 1
            if x & 0x30:
                i += 1
        out += p[i:]
    return out


def opus_packets(seconds: float, channels: int, cutoff_hz: float | None = None) -> list[bytes]:
    """White noise (low-passed at ``cutoff_hz``) encoded by libopus, 20 ms packets."""
    enc = CodecContext.create("libopus", "w")
    enc.sample_rate = 48000
    enc.layout = "stereo" if channels == 2 else "mono"
    enc.format = "s16"
    enc.bit_rate = 128000
    rng = np.random.default_rng(1)
    n = int(seconds * 48000)
    noise = rng.normal(0, 0.2, n)
    if cutoff_hz is not None:
        spectrum = np.fft.rfft(noise)
        spectrum[int(cutoff_hz / 48000 * n) :] = 0
        noise = np.fft.irfft(spectrum, n)
    pcm = (np.clip(noise, -1, 1) * 32767).astype(np.int16)
    packets: list[bytes] = []
    for i in range(0, n - 960, 960):
        chunk = pcm[i : i + 960]
        data = np.repeat(chunk, channels)[None, :] if channels == 2 else chunk[None, :]
        af = AudioFrame.from_ndarray(data, format="s16", layout=enc.layout.name)
        af.sample_rate = 48000
        af.pts = i
        af.time_base = fractions.Fraction(1, 48000)
        packets += [bytes(p) for p in enc.encode(af)]
    return packets


async def sampled(meter: QualityMeter) -> None:
    """Until the samples the meter started are made (in its worker) and noted (on the loop)."""
    for future in list(meter._futures):
        await asyncio.wrap_future(future)
    await asyncio.sleep(0)


async def test_frames_per_second_and_the_seconds_below_fifteen() -> None:
    cam, meter = Camera(), QualityMeter(pictures=False)
    t = 0.0
    meter.frame("video", "vp8", cam.frame(key=True), t)
    for _ in range(5 * 30 - 1):  # 5 s at 30 fps
        t += 1 / 30
        meter.frame("video", "vp8", cam.frame(), t)
    for _ in range(4 * 10):  # 4 s at 10 fps
        t += 1 / 10
        meter.frame("video", "vp8", cam.frame(), t)
    report = await meter.report(t + 0.1, [])
    video = report["video"]
    assert video["frames"] == 190
    assert 3.0 <= video["low_fps_s"] <= 4.0, video
    assert 10 < video["fps"] < 30, video
    assert video["resolutions"] == [{"from_s": 0.0, "width": 320, "height": 240}]
    assert video["lost_s"] == 0 and video["lost"] == []
    assert video["bitrate_kbps"] > 0
    assert report["audio"]["present"] is False and report["audio"]["channels"] == 0


async def test_a_resolution_change_is_listed_with_when() -> None:
    cam, meter = Camera(), QualityMeter(pictures=False)
    for i in range(60):
        meter.frame("video", "vp8", cam.frame(key=i == 0), i / 30)
    cam = Camera()  # a new encoder: it starts with a keyframe of the new size
    for i in range(60, 120):
        meter.frame("video", "vp8", cam.frame(640, 480, key=i == 60), i / 30)
    video = (await meter.report(4.0, []))["video"]
    assert video["resolutions"] == [
        {"from_s": 0.0, "width": 320, "height": 240},
        {"from_s": 2.0, "width": 640, "height": 480},
    ]
    assert meter.snapshot()["video"]["width"] == 640


async def test_lost_stretches_come_from_the_gaps_and_the_sound_holes() -> None:
    cam, meter = Camera(), QualityMeter(pictures=False)
    opus = opus_packets(8.0, 2)
    for i in range(8 * 30):
        t = i / 30
        if 3.0 <= t < 6.0:
            continue  # nothing arrived: a network cut
        meter.frame("video", "vp8", cam.frame(key=i in (0, 180)), t)
    for i, data in enumerate(opus):
        t = i * 0.02
        if not 3.0 <= t < 6.0:
            meter.frame("audio", "opus", data, t)
    gaps = [{"start_s": 2.99, "end_s": 6.0, "reason": "media_lost"}]
    report = await meter.report(8.0, gaps, first_picture_s=0.0)
    video, audio = report["video"], report["audio"]
    assert video["lost"] == [{"from_s": 2.99, "to_s": 6.0, "reason": "media_lost"}]
    assert abs(video["lost_s"] - 3.01) < 1e-6
    assert video["low_fps_s"] == 0  # the lost seconds are lost, not slow
    assert 2.9 < audio["lost_s"] < 3.1, audio
    [hole] = audio["lost"]
    assert hole["reason"] == "media_lost" and 2.9 < hole["to_s"] - hole["from_s"] < 3.1
    whole = take_report(8.0, {"primary": report})
    assert whole["version"] == 1 and whole["lost_s"] == max(video["lost_s"], audio["lost_s"])
    late = await QualityMeter(pictures=False).report(8.0, [])
    assert late["video"]["lost"] == []
    started_late = QualityMeter(pictures=False)
    started_late.frame("video", "vp8", Camera().frame(key=True), 2.5)
    assert (await started_late.report(4.0, [], first_picture_s=2.5))["video"]["lost"] == [
        {"from_s": 0.0, "to_s": 2.5, "reason": "no_media"}
    ]


async def test_channels_from_the_toc_byte_and_the_band_from_a_decode() -> None:
    stereo, mono = QualityMeter(), QualityMeter()
    for i, data in enumerate(opus_packets(4.0, 2)):
        stereo.frame("audio", "opus", data, i * 0.02)
    for i, data in enumerate(opus_packets(4.0, 1, cutoff_hz=4000)):
        mono.frame("audio", "opus", data, i * 0.02)
    full, narrow = (await stereo.report(4.0, []))["audio"], (await mono.report(4.0, []))["audio"]
    assert (full["channels"], narrow["channels"]) == (2, 1)
    assert full["bandwidth_hz"] is not None and full["bandwidth_hz"] >= 15000, full
    assert narrow["bandwidth_hz"] is not None and 3500 <= narrow["bandwidth_hz"] <= 5000, narrow
    assert 50 < full["bitrate_kbps"] < 200, full
    assert await stereo.measure_bandwidth() == stereo.snapshot()["audio"]["bandwidth_hz"]
    assert bandwidth_hz([[b"\xf8\xff\xfe"] * 100]) is None  # silence says nothing


def test_the_live_band_is_of_the_newest_two_seconds_whatever_the_packets_length() -> None:
    """Sound in 40 ms packets (the answer's a=ptime): the newest 2 s are 50 packets, not
    the 100 that are 2 s of a browser's 20 ms ones."""
    meter = QualityMeter(pictures=False)
    twice = bytes([0xF9]) + bytes(60)  # code 1: two 20 ms CELT frames
    for i in range(200):
        meter.frame("audio", "opus", twice, i * 0.04)
    newest = meter._newest_sound()
    assert len(newest) == 50 and all(p == twice for p in newest)
    single = bytes([0xF8]) + bytes(60)  # one 20 ms frame
    for i in range(200):
        meter.frame("audio", "opus", single, 8.0 + i * 0.02)
    assert len(meter._newest_sound()) == 100


def test_takes_started_together_spread_their_later_sound_windows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Forty cameras whose takes start together (as the server starts them at a deadline):
    their first windows of sound are measured together, a second in; their second ones
    spread evenly over a period, not all decoded in the worker at the same moment."""
    measured: list[float] = []  # when each window went to the worker (the take's clock)
    now = 0.0

    class Worker:
        def submit(self, *_: object) -> Future[int | None]:
            measured.append(now)
            done: Future[int | None] = Future()
            done.set_result(None)
            return done

    monkeypatch.setattr(quality, "_worker", Worker)
    meters = [QualityMeter(pictures=False) for _ in range(40)]
    packet = opus_packets(1.0, 2)[-1]
    for i in range(int(34.0 / 0.02)):
        now = i * 0.02
        for meter in meters:
            meter.frame("audio", "opus", packet, now)
    first = [t for t in measured if t < 5.0]
    assert len(first) == 40 and max(first) - min(first) < 0.05  # 1 s in, a 2 s window
    period = quality.AUDIO_EVERY_S
    # the second windows begin 10-30 s after the first, so go to the worker 13-33 s in
    second = [t for t in measured if 3.0 + period / 2 <= t < 3.0 + 1.5 * period]
    assert len(second) == 40
    quarters = [sum(1 for t in second if q <= (t - 13.0) / (period / 4) < q + 1) for q in range(4)]
    assert all(8 <= n <= 12 for n in quarters), quarters


async def test_black_and_frozen_from_sampled_keyframes() -> None:
    cam, meter = Camera(), QualityMeter()
    asked = 0
    asked_now = False
    t = 0.0
    # 6 s moving, 8 s black, 8 s the same picture; keyframes only when the meter asks
    for i in range(22 * 30):
        t = i / 30
        black, still = 6 <= t < 14, t >= 14
        want = i == 0 or asked_now
        asked_now = False
        data = cam.frame(black=black, still=still, key=want)
        if meter.frame("video", "vp8", data, t):
            assert t >= 6, "a camera that looks right is never asked for a keyframe"
            asked += 1
            asked_now = True
        await sampled(meter)
    video = (await meter.report(t, []))["video"]
    assert asked >= 4 and video["samples"] >= 5, video
    assert 3.0 <= video["black_s"] <= 8.5, video
    assert 3.0 <= video["frozen_s"] <= 8.5, video
    assert meter.snapshot()["video"]["black"] is False


async def test_the_walls_pictures_are_the_samples_while_it_pictures_the_camera(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decoded = sample_decodes(monkeypatch)
    cam, meter = Camera(), QualityMeter()
    wall_gives = True
    for i in range(40 * 30):  # 40 s; a keyframe every 2.5 s (the wall asks for them)
        t = i / 30
        key = i % 75 == 0
        data = cam.frame(key=key)
        meter.frame("video", "vp8", data, t, pictured=True)
        if t >= 20:
            wall_gives = False  # its pool full, say: no pictures come any more
        if key and wall_gives:
            small = picture_codec.snapshot("vp8", data).frame  # the wall's picture
            meter.picture(small, t)
        await sampled(meter)
    video = (await meter.report(40.0, []))["video"]
    # 0-20 s: the wall's pictures, one every 5 s, and no keyframe decoded here
    assert not [t for t in decoded if t < 20], decoded
    # then, the wall's pictures gone, the meter decodes its own once BORROWED_S passed
    assert decoded and min(decoded) <= 15 + quality.BORROWED_S + 2.5, decoded
    assert video["samples"] >= 5, video
    assert video["black_s"] == 0 and video["frozen_s"] == 0, video


def test_samples_skip_the_loop_filter_and_say_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sample's keyframe is decoded on one thread without the loop filter
    (quality.SAMPLE_DECODER_OPTIONS): its luma is not the filtered decode's, yet its verdicts
    are: the bench clip's keyframe is neither dark nor frozen, the same picture keyframed
    again (as asked for) is the same as it, also against the wall's filtered picture of it,
    a picture 30 frames on is not; a black camera is dark."""
    clip = make_clip(3)
    key, again, moved = clip.video[0].data, clip.key_video[0].data, clip.key_video[30].data
    black = make_black(1)[0].data

    def filtered(data: bytes) -> quality.Sample:  # as every decoder did before
        decoder = CodecContext.create("vp8", "r")
        return quality.sample_of(decoder.decode(Packet(data))[0], 0.0)

    made: list[CodecContext] = []
    create = CodecContext.create

    def counting(name: Any, mode: Any = "r") -> CodecContext:
        made.append(create(name, mode))
        return made[-1]

    monkeypatch.setattr(quality.av.CodecContext, "create", counting)
    samples = [quality.decode_sample("vp8", d, 0.0) for d in (key, again, moved, black)]
    monkeypatch.undo()
    assert len(made) == 4 and all(c.thread_count == 1 for c in made)
    first, second, later, dark = (s for s in samples if s is not None)
    before = filtered(key)
    assert not np.array_equal(first.small, before.small)  # the filter was skipped
    assert float(np.abs(first.small - before.small).max()) < 8
    assert not first.dark and not before.dark and not second.dark and not later.dark
    assert quality._same(before, first) and quality._same(first, second)
    wall = quality.sample_of(picture_codec.snapshot("vp8", key).frame, 0.0)
    assert quality._same(wall, second) and quality._same(second, wall)
    assert not quality._same(first, later) and not quality._same(wall, later)
    assert dark.dark and filtered(black).dark


async def test_a_long_take_keeps_only_its_newest_sample_picture() -> None:
    """An hour of samples (one every 5 s) must not hold an hour of pictures: each sampled
    picture is 160x120 float32 (77 KB), 55 MB a camera an hour if all were kept."""
    import tracemalloc

    cam, meter = Camera(), QualityMeter()
    keyframe = cam.frame(key=True)
    delta = cam.frame()
    tracemalloc.start()
    try:
        for i in range(720):
            t = i * quality.SAMPLE_S
            meter.frame("video", "vp8", keyframe, t)
            meter.frame("video", "vp8", delta, t + 0.03)
            await sampled(meter)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    video = (await meter.report(720 * quality.SAMPLE_S, []))["video"]
    assert video["samples"] == 720
    assert video["frozen_s"] > 3000  # the same picture all along: frozen, added up
    assert held < 2_000_000, held


def test_a_frame_costs_microseconds() -> None:
    """The per-frame cost (inter frames and sound; keyframes are rare): the figure the
    report gives, in this thread's CPU time (a busy machine's waits do not count); only a
    generous sanity bound."""
    cam, meter = Camera(), QualityMeter(pictures=False)
    frames = [cam.frame(key=i == 0) for i in range(300)]
    audio = opus_packets(6.0, 2)
    n = 0
    started = time.thread_time()
    for rep in range(20):
        for i, data in enumerate(frames[1:]):
            meter.frame("video", "vp8", data, rep * 10 + i / 30)
            n += 1
    video_us = (time.thread_time() - started) / n * 1e6
    started = time.thread_time()
    for rep in range(20):
        for i, data in enumerate(audio):
            meter.frame("audio", "opus", data, rep * 6 + i * 0.02)
    audio_us = (time.thread_time() - started) / (20 * len(audio)) * 1e6
    print(f"quality meter per frame: video {video_us:.2f} us, audio {audio_us:.2f} us")
    assert video_us < 200 and audio_us < 200
    assert quality.MAX_PENDING > 0
