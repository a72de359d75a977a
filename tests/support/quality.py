"""The quality meter (media/quality.py) as tests watch it: the keyframes it decodes itself
for its samples, counted."""

from __future__ import annotations

import pytest

from media import quality


def sample_decodes(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The times of the keyframes ``media.quality`` decodes itself for its samples from now
    on in this test (not the pictures handed to it): ``decode_sample`` counted, then done."""
    times: list[float] = []
    real = quality.decode_sample

    def counted(codec: str, data: bytes, t: float) -> quality.Sample | None:
        times.append(t)
        return real(codec, data, t)

    monkeypatch.setattr(quality, "decode_sample", counted)
    return times
