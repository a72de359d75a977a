"""Our consent freshness replaces aioice's consent task: fail loudly at start-up when what it
replaces or uses moved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aioice import stun
from aioice.ice import Connection, StunProtocol

from media import consent
from tests.support.server import server_settings
from web.app import create_app


def test_installed_aioice_has_what_consent_freshness_needs() -> None:
    consent.check_compatible()  # raises ConsentUnavailable with the reason otherwise


def test_a_different_aioice_minor_version_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consent.aioice, "__version__", "0.14.0")
    with pytest.raises(consent.ConsentUnavailable, match=r"written for aioice 0\.13"):
        consent.check_compatible()


def test_a_renamed_consent_method_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(Connection, "query_consent")
    with pytest.raises(consent.ConsentUnavailable, match="query_consent is gone"):
        consent.check_compatible()


def test_a_connect_that_starts_its_checks_another_way_is_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def connect(self: Connection) -> None:
        self._closed = False  # and no _query_consent_task = ...(self.query_consent())

    monkeypatch.setattr(Connection, "connect", connect)
    with pytest.raises(consent.ConsentUnavailable, match=r"Connection\.connect no longer"):
        consent.check_compatible()


def test_a_close_that_no_longer_stops_the_task_is_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def close(self: Connection) -> None:
        self._closed = True

    monkeypatch.setattr(Connection, "close", close)
    with pytest.raises(consent.ConsentUnavailable, match=r"Connection\.close no longer"):
        consent.check_compatible()


def test_a_moved_task_attribute_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Connection.__init__

    def changed(self: Connection, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        del self._query_consent_task

    monkeypatch.setattr(Connection, "__init__", changed)
    with pytest.raises(consent.ConsentUnavailable, match="_query_consent_task"):
        consent.check_compatible()


def test_a_request_without_retransmissions_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    async def request(
        self: StunProtocol, request: stun.Message, addr: tuple[str, int]
    ) -> tuple[stun.Message, tuple[str, int]]:
        raise NotImplementedError

    monkeypatch.setattr(StunProtocol, "request", request)
    with pytest.raises(consent.ConsentUnavailable, match="retransmissions"):
        consent.check_compatible()


def test_the_app_checks_it_at_start_up(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delattr(Connection, "query_consent")  # the other start-up checks pass
    with pytest.raises(consent.ConsentUnavailable, match="query_consent"):
        create_app(server_settings(tmp_path / "data"))
