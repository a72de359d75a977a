"""Which host addresses the server offers as ICE candidates.

aioice gathers host candidates from the machine's interfaces and leaves out
loopback, so a client on the same machine (or in a test namespace that has
only ``lo``) could never connect. aioice reads its address list through one
module-level function; this wraps it once so the configured extra addresses
are offered too. It is process-wide because aioice's function is.
"""

from __future__ import annotations

import aioice.ice

_original = aioice.ice.get_host_addresses


class _HostAddresses:
    def __init__(self) -> None:
        self.extra: tuple[str, ...] = ()

    def __call__(self, use_ipv4: bool, use_ipv6: bool) -> list[str]:
        addresses: list[str] = list(_original(use_ipv4=use_ipv4, use_ipv6=use_ipv6))
        for address in self.extra:
            if address not in addresses and (
                (":" in address and use_ipv6) or (":" not in address and use_ipv4)
            ):
                addresses.append(address)
        return addresses


def offer_host_addresses(extra: tuple[str, ...]) -> None:
    """Offer ``extra`` addresses (e.g. ``127.0.0.1``) besides the interfaces' own."""
    current = aioice.ice.get_host_addresses
    if not isinstance(current, _HostAddresses):
        current = _HostAddresses()
        aioice.ice.get_host_addresses = current
    current.extra = tuple(extra)
