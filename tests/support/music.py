"""A music-like test signal and what a recording kept of it (issue #18).

The signal: a different chord in each channel (left C-E-G, right F#-A#-C#), each
note with its harmonics up to 18 kHz at 1/sqrt(n), so a recording shows whether
it kept the full band (energy above 12 and 16 kHz) and the stereo image (two
chords, not one mix). :func:`measure` decodes a stored file's audio with PyAV and
compares it with the source: band energy, top of the band, the high harmonics
kept apart from noise, L/R correlation and separation, level, gaps, and from the
Opus packets themselves (no decoding) the share sent as stereo and the bitrate.
"""

from __future__ import annotations

import wave
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from media.bitstream import opus_duration

RATE = 48000
LEFT_HZ = (261.63, 329.63, 392.00)  # C4 E4 G4
RIGHT_HZ = (369.99, 466.16, 554.37)  # F#4 A#4 C#5: no note of the left's
TOP_PARTIAL_HZ = 18000.0
PEAK = 0.5  # -6 dBFS
FFT = 8192
SKIP_S, TAIL_S = 0.6, 0.3  # the start settling and the end left out of the figures
GAP_WINDOW_S = 0.01


def chord(freqs: tuple[float, ...], seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    out = np.zeros_like(t)
    for f in freqs:
        for n in range(1, int(TOP_PARTIAL_HZ // f) + 1):
            out += np.sin(2 * np.pi * f * n * t + rng.uniform(0, 2 * np.pi)) / np.sqrt(n)
    return out


def source(seconds: float = 4.0) -> np.ndarray:
    """The test signal, shape (2, samples), float in -1..1."""
    stereo = np.stack([chord(LEFT_HZ, seconds, 1), chord(RIGHT_HZ, seconds, 2)])
    return stereo * (PEAK / np.max(np.abs(stereo)))


def write_wav(path: Path, samples: np.ndarray) -> None:
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").T.copy()
    with wave.open(str(path), "wb") as out:
        out.setnchannels(samples.shape[0])
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm.tobytes())


@dataclass(frozen=True)
class Figures:
    seconds: float
    top_hz: float  # the highest 250 Hz band within 60 dB of the loudest
    above_12k_db: float  # energy share above 12 kHz, relative to the source's (0: all kept)
    above_16k_db: float
    partials_db: float  # the harmonics above 12 kHz over the noise between them (source ~39)
    correlation: float  # of L and R (the source's is ~0; a mono recording's 1)
    separation_db: float  # each chord in its own channel over the other channel
    level_db: tuple[float, float]  # RMS of L and R relative to the source's
    gaps_s: float  # 10 ms windows 30 dB below the source's level
    stereo_packets: float  # share of Opus packets coded as stereo (the TOC's s bit)
    bitrate_kbps: float  # of the Opus packets
    packet_ms: float  # the median length of sound in an Opus packet

    def line(self) -> str:
        return " ".join(
            f"{k}={','.join(f'{x:.1f}' for x in v) if isinstance(v, tuple) else f'{v:.3g}'}"
            for k, v in asdict(self).items()
        )


def _spectrum(channel: np.ndarray) -> np.ndarray:
    frames = len(channel) // FFT
    window = np.hanning(FFT)
    power = np.zeros(FFT // 2 + 1)
    for i in range(frames):
        power += np.abs(np.fft.rfft(channel[i * FFT : (i + 1) * FFT] * window)) ** 2
    return power / max(frames, 1)


def _share_above(power: np.ndarray, hz: float) -> float:
    freqs = np.fft.rfftfreq(FFT, 1 / RATE)
    return float(power[freqs >= hz].sum() / power.sum())


def _top_hz(power: np.ndarray) -> float:
    freqs = np.fft.rfftfreq(FFT, 1 / RATE)
    bands = np.array(
        [power[(freqs >= lo) & (freqs < lo + 250)].sum() for lo in np.arange(0, RATE / 2, 250)]
    )
    loud = np.nonzero(bands > bands.max() * 1e-6)[0]
    return float(loud[-1] * 250 + 250) if len(loud) else 0.0


def _at(power: np.ndarray, hz: float) -> float:
    i = round(hz * FFT / RATE)
    return float(power[i - 2 : i + 3].sum())


def _separation(left: np.ndarray, right: np.ndarray) -> float:
    own = sum(_at(left, f) for f in LEFT_HZ) + sum(_at(right, f) for f in RIGHT_HZ)
    other = sum(_at(right, f) for f in LEFT_HZ) + sum(_at(left, f) for f in RIGHT_HZ)
    return float(10 * np.log10(own / max(other, 1e-20)))


def _partials_db(power: np.ndarray) -> float:
    """How far the harmonics between 12 and 18 kHz stand out of the band's floor: a coder
    short of bits keeps the band's energy but fills it with noise (CELT's band folding)."""
    freqs = np.fft.rfftfreq(FFT, 1 / RATE)
    mask = np.zeros(len(freqs), dtype=bool)
    for f in LEFT_HZ + RIGHT_HZ:
        for n in range(1, int(TOP_PARTIAL_HZ // f) + 1):
            i = round(n * f * FFT / RATE)
            mask[i - 2 : i + 3] = True
    band = (freqs >= 12000) & (freqs < TOP_PARTIAL_HZ)
    return _db(float(power[band & mask].sum())) - _db(float(power[band & ~mask].sum()))


def _db(x: float) -> float:
    return float(10 * np.log10(max(x, 1e-20)))


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)))


def decoded(path: Path) -> tuple[np.ndarray, list[bytes]]:
    """The file's audio as (2, samples) float, and its Opus packets."""
    with av.open(str(path)) as container:
        packets = [bytes(p) for p in container.demux(audio=0) if p.size]
    with av.open(str(path)) as container:
        chunks = []
        for frame in container.decode(audio=0):
            data = frame.to_ndarray().astype(np.float64)
            if frame.format.name.endswith("p"):
                chunks.append(data if data.shape[0] == 2 else np.repeat(data, 2, axis=0))
            else:  # interleaved: one row
                chunks.append(data.reshape(-1, frame.layout.nb_channels).T)
    samples = np.concatenate(chunks, axis=1)
    if np.issubdtype(samples.dtype, np.integer) or np.abs(samples).max() > 2:
        samples = samples / 32768
    return samples, packets


def measure(path: Path, reference: np.ndarray) -> Figures:
    """What the stored file at ``path`` kept of ``reference`` (the source, (2, samples))."""
    samples, packets = decoded(path)
    seconds = samples.shape[1] / RATE
    body = samples[:, int(SKIP_S * RATE) : samples.shape[1] - int(TAIL_S * RATE)]
    left, right = _spectrum(body[0]), _spectrum(body[1])
    src_left, src_right = _spectrum(reference[0]), _spectrum(reference[1])
    both, src_both = left + right, src_left + src_right
    window = int(GAP_WINDOW_S * RATE)
    windows = body[:, : body.shape[1] // window * window].reshape(2, -1, window)
    loudness = np.sqrt((windows**2).mean(axis=(0, 2)))
    quiet = loudness < _rms(reference) * 10 ** (-30 / 20)
    toc = [p[0] for p in packets]
    sound_s = sum(opus_duration(p) for p in packets)
    return Figures(
        seconds=seconds,
        top_hz=_top_hz(both),
        above_12k_db=_db(_share_above(both, 12000)) - _db(_share_above(src_both, 12000)),
        above_16k_db=_db(_share_above(both, 16000)) - _db(_share_above(src_both, 16000)),
        partials_db=(_partials_db(left) + _partials_db(right)) / 2,
        correlation=float(np.corrcoef(body[0], body[1])[0, 1]),
        separation_db=_separation(left, right),
        level_db=(
            20 * np.log10(_rms(body[0]) / _rms(reference[0])),
            20 * np.log10(_rms(body[1]) / _rms(reference[1])),
        ),
        gaps_s=float(quiet.sum() * GAP_WINDOW_S),
        stereo_packets=sum(1 for b in toc if b & 0x04) / max(len(toc), 1),
        bitrate_kbps=sum(len(p) for p in packets) * 8 / max(sound_s, 1e-9) / 1000,
        packet_ms=float(np.median([opus_duration(p) for p in packets])) * 1000 if packets else 0,
    )


def source_figures(reference: np.ndarray) -> dict[str, Any]:
    """The source's own figures, for the report's first column."""
    both = _spectrum(reference[0]) + _spectrum(reference[1])
    return {
        "top_hz": _top_hz(both),
        "partials_db": (
            _partials_db(_spectrum(reference[0])) + _partials_db(_spectrum(reference[1]))
        )
        / 2,
        "correlation": float(np.corrcoef(reference[0], reference[1])[0, 1]),
        "separation_db": _separation(_spectrum(reference[0]), _spectrum(reference[1])),
    }
