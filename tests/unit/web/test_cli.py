from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.support.postgres import empty_database, worker_name
from web import cli


def test_unit_add_and_grant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "data")
    with pytest.raises(SystemExit) as ok:
        cli.main(["unit-add", "10001", "北京某大学", "--data-dir", data])
    assert ok.value.code == 0 and "added unit 10001" in capsys.readouterr().out
    with pytest.raises(SystemExit) as again:
        cli.main(["unit-add", "10001", "x", "--data-dir", data])
    assert again.value.code == 1 and "exists already" in capsys.readouterr().out
    with pytest.raises(SystemExit) as unknown:
        cli.main(["grant", "13800138000", "staff_reviewer", "--data-dir", data])
    assert unknown.value.code == 1 and "register it first" in capsys.readouterr().out


def test_two_factor_reset_names_an_unknown_phone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(tmp_path / "data")
    with pytest.raises(SystemExit) as done:
        cli.main(["two-factor-reset", "13800138000", "--data-dir", data])
    assert done.value.code == 1 and "no account has the phone" in capsys.readouterr().out


def test_admin_commands_work_on_postgresql(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = asyncio.run(empty_database(f"examcast_cli_{worker_name()}"))
    data = str(tmp_path / "data")
    with pytest.raises(SystemExit) as ok:
        cli.main(["unit-add", "10001", "北京某大学", "--data-dir", data, "--database-url", url])
    assert ok.value.code == 0 and "added unit 10001" in capsys.readouterr().out
    with pytest.raises(SystemExit) as again:
        cli.main(["unit-add", "10001", "x", "--data-dir", data, "--database-url", url])
    assert again.value.code == 1 and "exists already" in capsys.readouterr().out
    assert not (tmp_path / "data" / "examcast.sqlite3").exists()  # nothing kept in SQLite
