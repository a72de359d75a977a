from __future__ import annotations

from pathlib import Path

import pytest

from web import cli
from web.settings import Settings, SettingsError, fields, load, markdown_table

DOCS = Path(__file__).parents[3] / "docs" / "settings.md"


def test_settings_doc_is_generated_from_the_settings() -> None:
    assert markdown_table() in DOCS.read_text(encoding="utf-8"), (
        "docs/settings.md is stale: regenerate its table with web.settings.markdown_table()"
    )


def test_every_setting_has_help_and_a_cli_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["serve", "--help"])
    out = capsys.readouterr().out
    for f in fields():
        assert f.metadata["help"].strip()
        assert "--" + f.name.replace("_", "-") in out


def test_command_line_beats_environment_beats_default() -> None:
    env = {"EXAMCAST_PORT": "9000", "EXAMCAST_ICE_SERVERS": "stun:a:1, turn:b:2"}
    assert load({}, env={}).port == Settings().port
    assert load({}, env=env).port == 9000
    assert load({}, env=env).ice_servers == ("stun:a:1", "turn:b:2")
    assert load({"port": "9100"}, env=env).port == 9100


@pytest.mark.parametrize(
    "values",
    [
        {"port": "0"},
        {"port": "http"},
        {"tls": "maybe"},
        {"ice_servers": "http://stun.example"},
        {"max_sdp_bytes": "10"},
        {"writer_threads": "0"},
        {"database_url": "mysql://root@127.0.0.1/examcast"},
        {"ice_host_addresses_only": "true"},  # only the addresses given, and none given
    ],
)
def test_bad_values_are_refused_with_the_reason(values: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        load(values, env={})


def test_no_public_stun_server_by_default() -> None:
    assert Settings().ice_servers == ()


def test_operating_settings_are_checked() -> None:
    assert load({}, env={}).log_format == "text" and load({}, env={}).metrics_token == ""
    assert load({}, env={"EXAMCAST_METRICS_TOKEN": "x" * 16}).metrics_token == "x" * 16
    for values in ({"metrics_token": "short"}, {"drain_timeout_s": "-1"}, {"log_format": "xml"}):
        with pytest.raises(SettingsError):
            load(values, env={})


def test_the_vendor_key_is_needed_with_its_url_and_never_shown() -> None:
    with pytest.raises(SettingsError, match="vendor_key"):
        Settings(vendor_url="https://vendor.example/v1/person/verify").validate()
    with pytest.raises(SettingsError, match="vendor_url"):
        Settings(vendor_url="ftp://vendor.example", vendor_key="k" * 16).validate()
    with pytest.raises(SettingsError, match="vendor_timeout_s"):
        Settings(vendor_timeout_s=0).validate()
    with pytest.raises(SettingsError, match="face_check_interval_s"):
        Settings(face_check_interval_s=-1).validate()
    shown = Settings(vendor_url="https://v.example/x", vendor_key="vendor-secret-1").validate()
    assert "vendor-secret-1" not in repr(shown)
