"""Can a phone open the second camera's link (二机位, M3.5)? And if not, what to do.

A server opened as ``http://localhost:8080`` puts ``http://127.0.0.1:8080/pair?...``
(or localhost) in the QR code: no phone can open that. A plain ``http://`` LAN address
opens, but the phone's browser refuses its camera outside a secure context. The page
shows the answer of :func:`phone_reach` next to the QR code.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

import ifaddr

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
EVERYWHERE = {"0.0.0.0", "::", ""}


def is_loopback(host: str) -> bool:
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def lan_addresses() -> list[str]:
    """This machine's IPv4 addresses a phone on the same network might reach (not
    loopback, not link-local). Reads the interfaces: call it in a worker thread."""
    found = set()
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if not isinstance(ip.ip, str):
                continue  # IPv6: phones on a LAN are reached by IPv4 in practice
            address = ipaddress.ip_address(ip.ip)
            if not (address.is_loopback or address.is_link_local or address.is_unspecified):
                found.add(ip.ip)
    return sorted(found, key=ipaddress.ip_address)


def phone_reach(url: str, bind_host: str, port: int, addresses: list[str]) -> dict[str, Any]:
    """``problem``: None, ``loopback`` (no phone can open ``url``) or ``insecure`` (it
    opens, but without HTTPS its camera stays off); ``restart_with``: the options that
    fix it, with this machine's LAN addresses (``lan_addresses``) to pick from."""
    parts = urlsplit(url)
    problem = None
    if is_loopback(parts.hostname or ""):
        problem = "loopback"
    elif parts.scheme != "https":
        problem = "insecure"
    out: dict[str, Any] = {"ok": problem is None, "problem": problem}
    if problem is None:
        return out
    lan = addresses[0] if addresses else "<lan-ip>"
    listen = "" if bind_host in EVERYWHERE or not is_loopback(bind_host) else "--host 0.0.0.0 "
    out["restart_with"] = f"{listen}--public-url https://{lan}:{port} --tls self-signed"
    out["lan_addresses"] = addresses if problem == "loopback" else []
    out["port"] = port
    return out
