"""Whether a phone can open the second camera's QR link, and the options that fix it."""

from __future__ import annotations

import ipaddress

import pytest

from web.phone_reach import is_loopback, lan_addresses, phone_reach

LAN = ["192.168.1.20", "10.0.0.5"]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("app.localhost", True),
        ("[::1]", True),
        ("::1", True),
        ("192.168.1.20", False),
        ("exam.example.edu", False),
        ("0.0.0.0", False),
        ("", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_code_on_localhost_names_the_lan_addresses_and_the_options() -> None:
    reach = phone_reach("http://127.0.0.1:8080/pair?token=t", "127.0.0.1", 8080, LAN)
    assert reach == {
        "ok": False,
        "problem": "loopback",
        "restart_with": "--host 0.0.0.0 --public-url https://192.168.1.20:8080 --tls self-signed",
        "lan_addresses": LAN,
        "port": 8080,
    }
    # Listening everywhere already: only the public address and TLS are missing.
    everywhere = phone_reach("http://localhost:8443/pair?token=t", "0.0.0.0", 8443, [])
    assert everywhere["restart_with"] == "--public-url https://<lan-ip>:8443 --tls self-signed"


def test_plain_http_on_the_lan_opens_but_gets_no_camera() -> None:
    reach = phone_reach("http://192.168.1.20:8080/pair?token=t", "0.0.0.0", 8080, LAN)
    assert (reach["ok"], reach["problem"], reach["lan_addresses"]) == (False, "insecure", [])
    assert reach["restart_with"] == "--public-url https://192.168.1.20:8080 --tls self-signed"


def test_https_on_the_lan_is_fine() -> None:
    reach = phone_reach("https://192.168.1.20:8443/pair?token=t", "0.0.0.0", 8443, LAN)
    assert reach == {"ok": True, "problem": None}


def test_lan_addresses_leave_out_loopback_and_link_local() -> None:
    for address in lan_addresses():
        ip = ipaddress.ip_address(address)
        assert ip.version == 4 and not ip.is_loopback and not ip.is_link_local
