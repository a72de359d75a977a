"""The encoded-frame tap depends on aiortc internals: fail loudly when they move."""

from __future__ import annotations

import queue
from typing import Any

import pytest
from aiortc.rtcrtpreceiver import RTCRtpReceiver

from media import tap


def test_installed_aiortc_has_what_the_tap_needs() -> None:
    tap.check_compatible()  # raises TapUnavailable with the reason otherwise


def test_a_changed_receiver_is_reported_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    original = RTCRtpReceiver.__init__

    def changed(self: RTCRtpReceiver, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        del self._RTCRtpReceiver__decoder_queue  # type: ignore[attr-defined]
        self._decoder_queue = queue.Queue()  # type: ignore[attr-defined]

    monkeypatch.setattr(RTCRtpReceiver, "__init__", changed)
    with pytest.raises(tap.TapUnavailable, match="decoder_queue"):
        tap.check_compatible()


def test_a_different_minor_version_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tap.aiortc, "__version__", "1.99.0")
    with pytest.raises(tap.TapUnavailable, match=r"written for aiortc 1\.16"):
        tap.check_compatible()
