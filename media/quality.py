"""What the server received from one camera: the take's quality report (issue #18).

A :class:`QualityMeter` is handed every encoded frame the recorder places (one call per
frame, :meth:`QualityMeter.frame`: a few additions, a header byte or two; nothing is
decoded on the way): frames and bytes per second of the take's clock, the picture size
from each keyframe's header (VP8 frame header, H.264 SPS: :mod:`media.bitstream`), the
sound's holes, its channels from each Opus packet's TOC stereo bit and the band the
encoder coded (TOC config). Two things need pictures or samples, and get them off the
event loop, in one small shared worker thread:

- **Frozen or black picture.** A keyframe that arrives anyway (the recorder's, the
  wall's, a viewer's, the sender's own) is decoded to a 160x120 luma when the last
  sample is :data:`SAMPLE_S` old (by one thread, without the loop filter, which so small
  a luma does not need: :data:`SAMPLE_DECODER_OPTIONS`). Only a camera that looks wrong
  is asked for more (a merged PLI: the caller's ``request_keyframe(merge=True)``, at most
  one a second shared with the wall): at once when its frames shrink to a fraction of
  their usual size (as they do when the picture goes black or stops changing), then
  every :data:`SUSPECT_S` while the last sample is dark, every :data:`STILL_S` while the
  frames stay shrunk or the picture is the same as the one before. A camera that looks
  right costs no keyframe. Two samples in a row that are dark
  (:mod:`media.detectors.dark`) count the time between them as black; two that are the
  same picture (:mod:`media.detectors.frozen`) count it as frozen. So both are measured
  to within a sample interval, never overstated.
- **Audio bandwidth.** Windows of :data:`AUDIO_WINDOW_S` of Opus packets (the first
  from a second in, then every :data:`AUDIO_EVERY_S`, the second shifted by up to half
  of that either way, so takes started together spread theirs) are each decoded
  (PyAV/libopus) in the worker as soon as they are complete, the last one when the take stops
  (:meth:`QualityMeter.finish`, while its files close), and the highest frequency with
  real energy is found in their spectrum (:func:`bandwidth_hz`); the report takes the
  widest window.

:meth:`QualityMeter.snapshot` is the live view (the device check), the same keys as a
camera in the report with the last second's rates; :meth:`QualityMeter.report` is the
camera's entry of the take's report (docs/recording.md, "Quality report"), the lost
stretches given by the recorder's gaps. :func:`take_report` puts the cameras together.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from media import bitstream
from media.detectors import dark, frozen

log = logging.getLogger(__name__)

VERSION = 1
LOW_FPS = 15  # a second of the take with fewer frames than this is "low"
SAMPLE_S = 5.0  # a keyframe that comes anyway is decoded when the last sample is this old
# ... or this old while the wall pictures the camera (its pictures, every 2-3 s, are the
# samples; this only covers a wall whose pictures stopped coming)
BORROWED_S = 2 * SAMPLE_S
SUSPECT_S = 1.5  # asked for this often while the last sample is dark
STILL_S = 2.5  # ... this often while the frames stay shrunk or the picture the same
# Inter frames this many times smaller than usual, this many in a row: sample at once.
SHRUNK, SHRUNK_FRAMES = 4, 10
MAX_SAMPLE_SPAN_S = 2 * SAMPLE_S + 2.0  # samples further apart say nothing about between
SMALL = (160, 120)  # the sampled picture's size (frozen.SIZE)
MAX_PENDING = 8  # decodes waiting in the worker (all cameras); more are skipped
# A sample's keyframe is decoded without the loop filter (FFmpeg's VP8 and H.264 decoders
# honour it; their other options save nothing here: skip_idct, the gray flag and flags2
# "fast" change no pixel). The filter smooths block edges, which the 160x120 luma averages
# away: on the bench clip's keyframes, VP8 at 300 kbit/s, H.264 and the vision fixtures
# (105 dark or lit pictures, 240 pairs of the same or a changed picture) no dark or frozen
# verdict changed, a pair made with the wall's (filtered) picture included; the luma's
# spread moved by at most 1 level, a pair's difference by at most 1.8 (thresholds 4.5, 9)
# and the narrowest margin to a threshold stayed 1.3 (1.2 before). With one decoder thread
# a sample of the bench clip's keyframes costs 14-19% less (3.5 -> 2.9 ms), 19-25% at
# 300 kbit/s, 21% H.264. The wall's pictures keep the filter (media.picture_codec: there
# a proctor would see the blocks).
SAMPLE_DECODER_OPTIONS = {"skip_loop_filter": "all"}  # "all": a keyframe is skipped too
AUDIO_HOLE_S = 0.06  # sound missing for longer than this (3 Opus frames) was lost
AUDIO_WINDOW_S = 2.0
AUDIO_EVERY_S = 20.0
# The takes of an exam start together (the server starts them at a deadline), and so would
# every later window of theirs, all decoded in the one worker at the same moment. Each
# meter's second window comes AUDIO_EVERY_S after its first, shifted by up to half of it
# either way (the meters made one after another spread evenly: golden-ratio steps), so
# their later windows are spread over the period, and with them the worker's load.
_GOLDEN = (5**0.5 - 1) / 2
_meters_made = itertools.count()
LIVE_AUDIO_S = 2.0  # the live meter keeps this much of the newest sound to measure
BAND_FLOOR_DB = 50.0  # "real energy": within this many dB of the spectrum's strongest band
SILENT_RMS = 1e-4  # a decoded window this quiet (full scale 1.0) says nothing about the band
LATE_START_S = 2.0  # the first picture this late (recorder.AUDIO_ONLY_AFTER_S): lost from 0
_OPUS_BANDWIDTH_HZ = (  # the band the encoder coded, by TOC config (RFC 6716 3.1)
    (4000,) * 4
    + (6000,) * 4
    + (8000,) * 4  # SILK NB, MB, WB
    + (12000,) * 2
    + (20000,) * 2  # hybrid SWB, FB
    + (4000,) * 4
    + (8000,) * 4
    + (12000,) * 4
    + (20000,) * 4  # CELT NB, WB, SWB, FB
)

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_pending = 0


_local = threading.local()  # the worker's own scaler


def _worker() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="examcast-quality")
        return _pool


@dataclass(frozen=True, slots=True)
class Sample:
    """A decoded keyframe: when (take clock), dark or not, and its small luma."""

    t: float
    dark: bool
    small: np.ndarray


def decode_sample(codec: str, data: bytes, t: float) -> Sample | None:
    """One keyframe decoded to :data:`SMALL` luma (in the worker); None if it will not.

    By a fresh decoder of one thread with :data:`SAMPLE_DECODER_OPTIONS`."""
    try:
        ctx = av.CodecContext.create(codec, "r")
        ctx.thread_count = 1  # PyAV's default, a thread per core: 10% more CPU for one picture
        ctx.options = dict(SAMPLE_DECODER_OPTIONS)
        frames = ctx.decode(av.Packet(data))  # type: ignore[attr-defined]
        frames += ctx.decode(None)  # type: ignore[attr-defined]
    except (av.FFmpegError, ValueError) as exc:
        log.debug("quality: a %s keyframe did not decode: %s", codec, exc)
        return None
    if not frames:
        return None
    return sample_of(frames[0], t)


def sample_of(picture: av.VideoFrame, t: float) -> Sample:
    """A decoded picture (a keyframe's, or the wall's smaller copy of it) as a sample.

    Scaled by a reformatter of the worker's own: ``picture.reformat`` would use the one
    PyAV keeps on the frame, which the wall's picture shares with its detectors' threads
    (two threads in one scaler crash the process)."""
    scaler = _local.__dict__.get("scaler")
    if scaler is None:
        scaler = _local.scaler = VideoReformatter()
    small = scaler.reformat(picture, width=SMALL[0], height=SMALL[1], format="gray")
    luma = small.to_ndarray()
    return Sample(t, dark.is_dark(dark.exposure(luma)), luma.astype(np.float32))


def bandwidth_hz(windows: Iterable[list[bytes]]) -> int | None:
    """The highest frequency with real energy in these windows of Opus packets (decoded
    at 48 kHz): the top of the band whose averaged power is within :data:`BAND_FLOOR_DB`
    of the strongest band; None when every window is silent."""
    spectra = []
    for packets in windows:
        samples = _decode_opus(packets)
        if samples.size < 2048 or float(np.sqrt(np.mean(samples**2))) < SILENT_RMS:
            continue
        n = 2048
        hann = np.hanning(n)
        blocks = samples[: samples.size // n * n].reshape(-1, n) * hann
        spectra.append(np.mean(np.abs(np.fft.rfft(blocks, axis=1)) ** 2, axis=0))
    if not spectra:
        return None
    power = np.max(np.stack(spectra), axis=0)
    bands = power[1:].reshape(-1, 8).mean(axis=1)  # 8 bins of 23.4 Hz: ~190 Hz bands
    level = 10 * np.log10(bands + 1e-20)
    loud = np.nonzero(level >= level.max() - BAND_FLOOR_DB)[0]
    top = (int(loud[-1]) + 1) * 8 * 48000 / 2048
    return int(round(min(top, 24000.0) / 100) * 100)


def _decode_opus(packets: list[bytes]) -> np.ndarray:
    """The packets' sound as one float channel in [-1, 1): libopus mixes a stereo stream
    down as it decodes (cheaper than decoding both channels and averaging them here), and
    the samples are converted once, not frame by frame."""
    ctx = av.CodecContext.create("libopus", "r")
    ctx.sample_rate = 48000
    ctx.layout = "mono"
    out: list[np.ndarray] = []
    for data in packets:
        try:
            frames = ctx.decode(av.Packet(data))
        except (av.FFmpegError, ValueError):
            continue
        out.extend(frame.to_ndarray().reshape(-1) for frame in frames)
    if not out:
        return np.zeros(0, dtype=np.float32)
    pcm = np.concatenate(out)
    if pcm.dtype == np.int16:
        return pcm.astype(np.float32) / 32768.0
    return pcm.astype(np.float32, copy=False)


class QualityMeter:
    """One camera's video and audio as received (see the module). Times are seconds on
    the caller's clock (the take's for a recorder)."""

    def __init__(self, *, pictures: bool = True) -> None:
        self._pictures = pictures  # sample keyframes for frozen / black
        # video
        self.frames = 0
        self.bytes = 0
        self._first_t: float | None = None
        self._last_t: float | None = None
        self._per_second: list[int] = []  # frames in each second of the clock
        self._bytes_second: list[int] = []
        self.resolutions: list[dict[str, Any]] = []
        self._size: tuple[int, int] | None = None
        self._codec: str | None = None
        # samples: only the newest is kept (its picture, to compare the next with); the
        # black and frozen seconds between each two in a row are added up as they come
        self._newest: Sample | None = None
        self._sample_count = 0
        self._black_s = 0.0
        self._frozen_s = 0.0
        self._last_sample = -SAMPLE_S  # when the last keyframe was sampled
        self._due = float("inf")  # a keyframe is asked for from then on (looks wrong)
        self._asked_at = -1.0  # when a keyframe was last asked for
        self._typical = 0.0  # the usual inter frame's size (a running mean)
        self._shrunk = 0  # inter frames in a row far smaller than that
        self._sampling: Future[Sample | None] | None = None
        self._futures: list[Future[Sample | None]] = []
        self.keyframes_asked = 0
        # audio
        self.audio_frames = 0
        self.audio_bytes = 0
        self.stereo_frames = 0
        self._audio_first: float | None = None
        self._audio_end: float | None = None  # where the newest packet's sound ends
        self.audio_lost: list[tuple[float, float]] = []
        self._audio_bytes_second: list[int] = []
        self._bands: dict[int, int] = {}  # coded bandwidth -> packets
        self._window: list[bytes] | None = None  # the window of sound being gathered
        self._window_until = -1.0
        self._next_window = 1.0
        # added to the gap after the first window only (then every AUDIO_EVERY_S)
        self._window_shift = AUDIO_EVERY_S * ((next(_meters_made) * _GOLDEN) % 1.0 - 0.5)
        self._bands_found: list[Future[int | None]] = []  # each window's, in the worker
        self._recent: deque[bytes] = deque(maxlen=int(LIVE_AUDIO_S / bitstream.OPUS_SILENCE_S))
        self._live_band: int | None = None

    # -- per frame (on the event loop) -------------------------------------------------------

    def frame(
        self, kind: str, codec: str | None, data: bytes, t: float, *, pictured: bool = False
    ) -> bool:
        """Note one frame at ``t``; True when a keyframe should be asked for (a sample is
        due and none came: the caller sends a merged PLI). ``pictured``: the wall makes
        pictures of this camera's keyframes and hands them to :meth:`picture`, so a
        keyframe is decoded here only for a sample that cannot wait for the wall's."""
        if kind == "audio":
            self._audio(data, t)
            return False
        if not data:
            return False
        self.frames += 1
        self.bytes += len(data)
        if self._first_t is None:
            self._first_t = t
        self._last_t = t
        second = int(t) if t > 0 else 0
        counts = self._per_second
        if second >= len(counts):
            grow = second + 1 - len(counts)
            counts.extend([0] * grow)
            self._bytes_second.extend([0] * grow)
        counts[second] += 1
        self._bytes_second[second] += len(data)
        if codec == "vp8":
            key = not data[0] & 1
        elif codec == "h264":
            key = len(data) > 4 and data[4 if data[2] == 0 else 3] & 0x1F != 1  # not a slice
        else:
            return False
        if key:
            self._keyframe(codec, data, t, pictured)
            return False
        # The frames shrank to a fraction of their usual size (the picture went black or
        # still): a sample now rather than at its time.
        size = len(data)
        if size * SHRUNK < self._typical:
            self._shrunk += 1
            if self._shrunk == SHRUNK_FRAMES:
                self._due = min(self._due, t)
        else:
            self._shrunk = 0
            self._typical += (size - self._typical) / 32
        if (
            not self._pictures
            or self._sampling is not None
            or t < self._due
            or t < self._asked_at + 1.0  # asked a moment ago: its keyframe is on its way
        ):
            return False
        self.keyframes_asked += 1
        self._asked_at = t
        return True

    def _keyframe(self, codec: str, data: bytes, t: float, pictured: bool = False) -> None:
        try:
            info = bitstream.vp8_keyframe(data) if codec == "vp8" else bitstream.h264_keyframe(data)
        except bitstream.BitstreamError:
            return
        if info is None:
            return
        size = (info.width, info.height)
        if size != self._size:
            self._size = size
            self.resolutions.append({"from_s": round(t, 3), "width": size[0], "height": size[1]})
        self._codec = codec
        if not self._pictures or self._sampling is not None:
            return
        if t < self._due:  # a regular sample (one of a camera that looks wrong cannot wait)
            if t < self._last_sample + SAMPLE_S:
                return
            if pictured and t < self._last_sample + BORROWED_S:
                return  # the wall's pictures (every 2-3 s) are the samples
        self._sample(decode_sample, codec, bytes(data), t)

    def picture(self, picture: av.VideoFrame, t: float) -> None:
        """A picture of this camera's keyframe at ``t``, decoded by someone else (the
        wall's, small): the sample when one is due, without decoding the keyframe again."""
        if not self._pictures or self._sampling is not None:
            return
        if t < self._due and t < self._last_sample + SAMPLE_S:
            return
        self._sample(sample_of, picture, t)

    def _sample(self, make: Callable[..., Sample | None], *args: Any) -> None:
        """Make a sample in the worker: ``make(*args)``, the last argument its time."""
        t: float = args[-1]
        global _pending
        with _pool_lock:
            if _pending >= MAX_PENDING:
                return
            _pending += 1
        self._last_sample = t
        self._due = float("inf")  # until the sample says otherwise
        future = _worker().submit(make, *args)
        self._sampling = future
        self._futures = [f for f in self._futures if not f.done()]  # (their pictures too)
        self._futures.append(future)
        loop = asyncio.get_running_loop()

        def done(f: Future[Sample | None]) -> None:
            global _pending
            with _pool_lock:
                _pending -= 1
            try:
                loop.call_soon_threadsafe(self._sampled, f)
            except RuntimeError:  # the loop has closed (shutdown): nobody waits for it
                pass

        future.add_done_callback(done)

    def _sampled(self, future: Future[Sample | None]) -> None:
        if self._sampling is future:
            self._sampling = None
        sample = future.result() if not future.cancelled() and not future.exception() else None
        if sample is None:
            return
        before, self._newest = self._newest, sample
        self._sample_count += 1
        same = not sample.dark and before is not None and _same(before, sample)
        if before is not None and 0 < sample.t - before.t <= MAX_SAMPLE_SPAN_S:
            if before.dark and sample.dark:
                self._black_s += sample.t - before.t
            elif same and not before.dark:
                self._frozen_s += sample.t - before.t
        if sample.dark:
            self._due = min(self._due, sample.t + SUSPECT_S)
        elif self._shrunk >= SHRUNK_FRAMES or same:
            self._due = min(self._due, sample.t + STILL_S)

    def _audio(self, data: bytes, t: float) -> None:
        if not data:
            return
        self.audio_frames += 1
        self.audio_bytes += len(data)
        toc = data[0]
        self.stereo_frames += (toc >> 2) & 1
        band = _OPUS_BANDWIDTH_HZ[toc >> 3]
        self._bands[band] = self._bands.get(band, 0) + 1
        if self._audio_first is None:
            self._audio_first = t
        end = self._audio_end
        if end is not None and t - end > AUDIO_HOLE_S:
            self.audio_lost.append((end, t))
        step = bitstream.opus_duration(data)
        self._audio_end = t + step if end is None or t + step > end else end
        second = int(t) if t > 0 else 0
        seconds = self._audio_bytes_second
        if second >= len(seconds):
            seconds.extend([0] * (second + 1 - len(seconds)))
        seconds[second] += len(data)
        self._recent.append(data)
        if self._window is not None:
            if t < self._window_until:
                self._window.append(data)
                return
            self._measure_window()
        if t >= self._next_window:
            self._window = [data]
            self._window_until = t + AUDIO_WINDOW_S
            self._next_window = t + AUDIO_EVERY_S + self._window_shift
            self._window_shift = 0.0

    def _measure_window(self) -> None:
        window, self._window = self._window, None
        if window:
            self._bands_found.append(_worker().submit(bandwidth_hz, [window]))

    def finish(self) -> None:
        """The take stops: its last window of sound (or, for a take shorter than the first
        one, the newest sound) goes to the worker now, while the caller closes its files."""
        if self._window is None and not self._bands_found and self._recent:
            self._window = self._newest_sound()
        self._measure_window()

    # -- live ----------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Now: the last whole second's frames and bitrates, the current picture size, the
        channels and the coded band of the sound (``bandwidth_hz``: the last one measured
        by :meth:`measure_bandwidth`, else the band the encoder coded)."""
        last = None if self._last_t is None else int(max(self._last_t, 0.0)) - 1
        fps = self._per_second[last] if last is not None and last >= 0 else 0
        video_bytes = self._bytes_second[last] if last is not None and last >= 0 else 0
        audio_last = None if self._audio_end is None else int(max(self._audio_end, 0.0)) - 1
        seconds = self._audio_bytes_second
        audio_bytes = seconds[audio_last] if audio_last is not None and 0 <= audio_last else 0
        return {
            "video": {
                "frames": self.frames,
                "fps": float(fps),
                "width": None if self._size is None else self._size[0],
                "height": None if self._size is None else self._size[1],
                "resolutions": list(self.resolutions),
                "bitrate_kbps": round(video_bytes * 8 / 1000, 1),
                "black": bool(self._newest and self._newest.dark),
            },
            "audio": {
                "present": self.audio_frames > 0,
                "frames": self.audio_frames,
                "bitrate_kbps": round(audio_bytes * 8 / 1000, 1),
                "channels": self._channels(),
                "bandwidth_hz": self._live_band
                if self._live_band is not None
                else self._coded_band(),
                "coded_bandwidth_hz": self._coded_band(),
            },
        }

    def _newest_sound(self) -> list[bytes]:
        """The newest :data:`LIVE_AUDIO_S` of sound, oldest packet first (the deque holds
        that much of 20 ms packets; of longer ones, the answer's ``a=ptime``, more)."""
        newest: list[bytes] = []
        seconds = 0.0
        for data in reversed(self._recent):
            if seconds >= LIVE_AUDIO_S:
                break
            newest.append(data)
            seconds += bitstream.opus_duration(data)
        newest.reverse()
        return newest

    async def measure_bandwidth(self) -> int | None:
        """The band of the newest :data:`LIVE_AUDIO_S` of sound (decoded in the worker);
        kept for :meth:`snapshot`."""
        recent = self._newest_sound()
        if not recent:
            return None
        loop = asyncio.get_running_loop()
        band = await loop.run_in_executor(_worker(), bandwidth_hz, [recent])
        if band is not None:
            self._live_band = band
        return band

    # -- the report ----------------------------------------------------------------------------

    async def report(
        self,
        duration_s: float,
        gaps: Iterable[Mapping[str, Any]],
        first_picture_s: float | None = None,
    ) -> dict[str, Any]:
        """This camera's entry of the take's report. ``gaps``: the recorder's (its holes,
        on the take clock); ``first_picture_s``: where its first picture was recorded (the
        stretch before it is lost when it is over :data:`LATE_START_S`)."""
        for future in list(self._futures):  # samples still being decoded
            if not future.done():
                await asyncio.wrap_future(future)
        await asyncio.sleep(0)  # their results noted (call_soon_threadsafe) before reading
        lost: list[dict[str, Any]] = [
            {
                "from_s": round(float(g["start_s"]), 3),
                "to_s": round(float(g["end_s"]), 3),
                "reason": str(g.get("reason") or "lost"),
            }
            for g in gaps
            if g.get("start_s") is not None and g.get("end_s") is not None
        ]
        if self.frames and first_picture_s is not None and first_picture_s > LATE_START_S:
            lost.insert(0, {"from_s": 0.0, "to_s": round(first_picture_s, 3), "reason": "no_media"})
        lost_s = float(sum(max(0.0, x["to_s"] - x["from_s"]) for x in lost))
        _, fps, low = self._seconds(lost)
        picture_s = max(0.0, duration_s - lost_s) if self.frames else 0.0
        black_s, frozen_s = self._black_s, self._frozen_s
        self.finish()
        bands = [await asyncio.wrap_future(f) for f in self._bands_found]
        band = max((b for b in bands if b is not None), default=None)
        audio_s = (
            0.0
            if self._audio_first is None or self._audio_end is None
            else (self._audio_end - self._audio_first)
        )
        audio_lost_s = float(sum(b - a for a, b in self.audio_lost))
        return {
            "video": {
                "frames": self.frames,
                "fps": round(fps, 2),
                "low_fps_s": float(low),
                "resolutions": list(self.resolutions),
                "bitrate_kbps": _kbps(self.bytes, picture_s),
                "frozen_s": round(frozen_s, 2),
                "black_s": round(black_s, 2),
                "lost_s": round(lost_s, 3),
                "lost": lost,
                "samples": self._sample_count,
                "keyframes_asked": self.keyframes_asked,
            },
            "audio": {
                "present": self.audio_frames > 0,
                "frames": self.audio_frames,
                "bitrate_kbps": _kbps(self.audio_bytes, audio_s - audio_lost_s),
                "channels": self._channels(),
                "bandwidth_hz": band,
                "coded_bandwidth_hz": self._coded_band(),
                "lost_s": round(audio_lost_s, 3),
                # when (the picture may have come late by retransmission; sound never does)
                "lost": [
                    {"from_s": round(a, 3), "to_s": round(b, 3), "reason": "media_lost"}
                    for a, b in self.audio_lost
                ],
            },
        }

    def _seconds(self, lost: list[dict[str, Any]]) -> tuple[int, float, int]:
        """Whole seconds of picture (none of it lost, between the first and the last frame),
        the mean frames per second over them, and how many had fewer than :data:`LOW_FPS`."""
        if self._first_t is None or self._last_t is None:
            return 0, 0.0, 0
        spans = [(x["from_s"], x["to_s"]) for x in lost]
        first, last = int(self._first_t) + 1, int(self._last_t)  # whole seconds only
        counted = low = frames = 0
        for second in range(first, last):
            if any(a < second + 1 and b > second for a, b in spans):
                continue
            n = self._per_second[second]
            counted += 1
            frames += n
            low += n < LOW_FPS
        if counted == 0:
            span = self._last_t - self._first_t
            return 0, (self.frames - 1) / span if span > 0 else 0.0, 0
        return counted, frames / counted, low

    def _channels(self) -> int:
        if self.audio_frames == 0:
            return 0
        return 2 if self.stereo_frames * 2 > self.audio_frames else 1

    def _coded_band(self) -> int | None:
        if not self._bands:
            return None
        return max(self._bands.items(), key=lambda kv: (kv[1], kv[0]))[0]


def _same(a: Sample, b: Sample) -> bool:
    return frozen.is_same(frozen.difference(a.small, b.small))


def _kbps(size: int, seconds: float) -> float:
    return round(size * 8 / 1000 / seconds, 1) if seconds > 0 else 0.0


def take_report(duration_s: float, cameras: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """The take's report: its cameras' entries (:meth:`QualityMeter.report`) and the most
    any of them lost."""
    lost = [
        max(
            float(c["video"]["lost_s"]), float(c["audio"]["lost_s"] if c["audio"]["present"] else 0)
        )
        for c in cameras.values()
    ]
    return {
        "version": VERSION,
        "duration_s": round(duration_s, 3),
        "lost_s": round(max(lost, default=0.0), 3),
        "cameras": dict(cameras),
    }
