"""Which host addresses and UDP ports the server offers as ICE candidates.

aioice gathers host candidates from the machine's interfaces and leaves out
loopback, so a client on the same machine (or in a test namespace that has
only ``lo``) could never connect. aioice reads its address list through one
module-level function; this wraps it once so the configured extra addresses
are offered too, or (``only``) offered instead of the interfaces' own. The
latter is for a host whose other networks no candidate reaches (Docker bridges,
VPN tunnels) or that come and go: each address offered costs a socket per peer
connection, and ICE may pick one that is taken down mid-call (a connection
nominated on a short-lived interface's address loses its media with it).

aioice binds each host candidate's socket to port 0, so the kernel picks any
ephemeral port (aiortc#487; aioice has no option for a range). A firewall or a
container that publishes a fixed UDP range needs the ports inside it:
:func:`use_udp_ports` puts an adapter in front of the one call where aioice
creates those sockets (``loop.create_datagram_endpoint(..., local_addr=(address,
0))`` in ``Connection.get_component_candidates``), which binds a port of the
range instead and hands aioice the bound socket. Both are process-wide because
aioice's functions are.

A full range fails the negotiation at once with :class:`UdpPortsFull` (busy),
where aioice would otherwise skip the address and answer with no candidate (a
peer that never connects).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import random
import socket
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import aioice.ice

from exams.shared.errors import Busy

_original = aioice.ice.get_host_addresses
_asyncio = aioice.ice.asyncio


class _HostAddresses:
    def __init__(self) -> None:
        self.extra: tuple[str, ...] = ()
        self.only = False

    def __call__(self, use_ipv4: bool, use_ipv6: bool) -> list[str]:
        addresses: list[str] = (
            [] if self.only else list(_original(use_ipv4=use_ipv4, use_ipv6=use_ipv6))
        )
        for address in self.extra:
            if address not in addresses and (
                (":" in address and use_ipv6) or (":" not in address and use_ipv4)
            ):
                addresses.append(address)
        return addresses


def offer_host_addresses(extra: tuple[str, ...], *, only: bool = False) -> None:
    """Offer ``extra`` addresses (e.g. ``127.0.0.1``) besides the interfaces' own, or with
    ``only`` instead of them."""
    if only and not extra:
        raise ValueError("only the given host addresses, but none given: no candidate at all")
    current = aioice.ice.get_host_addresses
    if not isinstance(current, _HostAddresses):
        current = _HostAddresses()
        aioice.ice.get_host_addresses = current
    current.extra = tuple(extra)
    current.only = only


def offered_host_addresses() -> tuple[tuple[str, ...], bool]:
    """What :func:`offer_host_addresses` was last given: ``(extra, only)``."""
    current = aioice.ice.get_host_addresses
    if not isinstance(current, _HostAddresses):
        return (), False
    return current.extra, current.only


# -- a fixed UDP port range ------------------------------------------------------------------


class UdpPortsFull(Busy):
    """Every port of ``udp_ports`` is in use on an address this node offers."""


class _RangeFull(OSError):
    """Raised inside aioice (which skips an address it cannot bind, on OSError)."""


@dataclass(frozen=True)
class PortRange:
    first: int
    last: int

    @classmethod
    def parse(cls, text: str) -> PortRange:
        """``"40000-40199"`` (both included); ValueError with the reason otherwise."""
        low, sep, high = text.partition("-")
        try:
            first, last = int(low), int(high)
        except ValueError:
            raise ValueError(f"{text!r} is not a range like 40000-40199") from None
        if not sep or not 1024 <= first <= last <= 65535:
            raise ValueError(f"{text!r} must be FIRST-LAST with 1024 <= FIRST <= LAST <= 65535")
        return cls(first, last)

    def __len__(self) -> int:
        return self.last - self.first + 1

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.first <= port <= self.last

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"


def bind_in_range(host: str, ports: PortRange) -> socket.socket:
    """A UDP socket bound to ``host`` on a free port of ``ports``, tried from a random one
    (so a busy node does not probe the same low ports first for every peer)."""
    family, _, _, _, sockaddr = socket.getaddrinfo(
        host, None, type=socket.SOCK_DGRAM, flags=socket.AI_NUMERICHOST
    )[0]
    start = random.randrange(len(ports))
    for i in range(len(ports)):
        port = ports.first + (start + i) % len(ports)
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((sockaddr[0], port, *sockaddr[2:]))
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                continue
            raise
        sock.setblocking(False)
        return sock
    raise _RangeFull(errno.EADDRINUSE, f"every UDP port of {ports} is in use on {host}")


# What the negotiation running in this context found: addresses whose range was full.
_full: ContextVar[list[str] | None] = ContextVar("examcast_udp_ports_full", default=None)


class _LoopInRange:
    """The running loop, but a datagram endpoint on port 0 is bound inside the range."""

    def __init__(self, loop: asyncio.AbstractEventLoop, ports: PortRange) -> None:
        self._loop = loop
        self._ports = ports

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loop, name)

    async def create_datagram_endpoint(
        self, protocol_factory: Callable[[], Any], local_addr: Any = None, **kwargs: Any
    ) -> Any:
        if local_addr is None or local_addr[1] != 0 or kwargs:
            return await self._loop.create_datagram_endpoint(
                protocol_factory, local_addr=local_addr, **kwargs
            )
        try:
            sock = bind_in_range(local_addr[0], self._ports)
        except _RangeFull:
            full = _full.get()
            if full is not None:
                full.append(local_addr[0])
            raise
        try:
            return await self._loop.create_datagram_endpoint(protocol_factory, sock=sock)
        except BaseException:
            sock.close()
            raise


class _AsyncioInRange:
    """``asyncio`` as aioice.ice sees it: the same, but its running loop binds in range."""

    def __init__(self, ports: PortRange) -> None:
        self.ports = ports

    def __getattr__(self, name: str) -> Any:
        return getattr(_asyncio, name)

    def get_running_loop(self) -> Any:
        return _LoopInRange(_asyncio.get_running_loop(), self.ports)


def use_udp_ports(ports: PortRange | None) -> None:
    """Bind every host candidate's socket inside ``ports`` from now on (None: any port)."""
    aioice.ice.asyncio = _asyncio if ports is None else _AsyncioInRange(ports)  # type: ignore[assignment]


def udp_ports() -> PortRange | None:
    """The range in use, if any."""
    current = aioice.ice.asyncio
    return current.ports if isinstance(current, _AsyncioInRange) else None


@contextlib.contextmanager
def port_check() -> Iterator[Callable[[], None]]:
    """Around a peer connection's negotiation: the callable it yields raises
    :class:`UdpPortsFull` if an address could not be bound because its range was full."""
    full: list[str] = []
    token = _full.set(full)

    def check() -> None:
        if full:
            raise UdpPortsFull(
                f"this server has no free UDP port for media ({udp_ports()} in use on "
                f"{', '.join(sorted(set(full)))}); try again shortly"
            )

    try:
        yield check
    finally:
        _full.reset(token)
