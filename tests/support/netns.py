"""A browser on a network of its own: a network namespace joined to the server's by a
veth pair, so a test can cut the link (``down``/``up``: an interface change the browser
sees) or make packets vanish (``vanish``/``reappear``: a Wi-Fi that stops passing
traffic), with the page, its sockets and its peer connections left as they are.

There is no ``tc netem`` in this kernel and Playwright's offline mode cuts neither an open
WebSocket nor WebRTC media, so the link itself goes down. Creating a namespace needs root:
:func:`veth_pair` skips the test where it cannot.

tests/e2e/conftest.py wraps these in fixtures (``veth``, ``netns_server``,
``netns_browser``); tests/e2e/test_network_drops.py builds its own rig::

    with veth_pair() as link:
        server = veth_server(tmp_path / "data", link)
        chromium = await launch_in_netns(playwright, link, server, args, tmp_path)
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import pytest
from playwright.async_api import Browser, Playwright

from tests.support.process import ServerProcess, start_server
from tests.support.workers import worker_number

CHROMIUM = Path("/usr/bin/chromium")

_serial = count()

# Links of xdist workers exist at the same time in the test's network namespace: each has a
# /24 of its own (10.201.<subnet>.0), worker N taking subnets N*20+1 .. N*20+20 in turn.
_SUBNETS_PER_WORKER = 20


def ip(*args: str, ns: str | None = None) -> None:
    command = ["ip", *args] if ns is None else ["ip", "netns", "exec", ns, "ip", *args]
    subprocess.run(command, check=True, capture_output=True, timeout=10)


@dataclass
class Veth:
    """The browser's namespace and the link to it; ``down``/``up`` cut and restore it."""

    ns: str
    server_end: str
    browser_end: str
    server_ip: str = "10.201.0.1"
    browser_ip: str = "10.201.0.2"

    def down(self) -> None:
        ip("link", "set", self.server_end, "down")

    def up(self) -> None:
        ip("link", "set", self.server_end, "up")

    def remove(self) -> None:
        """The link and its addresses go (as when another test's ends); the namespace stays
        until :func:`veth_pair` ends."""
        ip("link", "del", self.server_end)

    def vanish(self) -> None:
        """A quiet drop: packets between the two ends vanish while both interfaces, their
        addresses and routes stay as they are, so neither side sees a network change or a
        send error (each end sends to a hardware address the other does not have)."""
        nowhere = ("lladdr", "02:00:00:00:00:01", "nud", "permanent")
        ip("neigh", "replace", self.browser_ip, "dev", self.server_end, *nowhere)
        ip("neigh", "replace", self.server_ip, "dev", self.browser_end, *nowhere, ns=self.ns)

    def reappear(self) -> None:
        """After :meth:`vanish`: the ends find each other again (ARP)."""
        ip("neigh", "del", self.browser_ip, "dev", self.server_end)
        ip("neigh", "del", self.server_ip, "dev", self.browser_end, ns=self.ns)


@contextmanager
def veth_pair() -> Iterator[Veth]:
    """A namespace for the browser and a veth pair to it, removed afterwards; skips the
    test where namespaces cannot be made (not root)."""
    serial = next(_serial)
    # The namespace's name is seen by the whole machine (other runs, other workers): the
    # process id makes it unique; the interfaces' names (at most 15 characters) follow it.
    tag = f"{os.getpid()}-{serial % 100}"
    browser_end = f"ecb{tag}"
    subnet = (worker_number() * _SUBNETS_PER_WORKER + serial % _SUBNETS_PER_WORKER) % 250 + 1
    link = Veth(
        ns=f"examcast-b{tag}",
        server_end=f"ecs{tag}",
        browser_end=browser_end,
        server_ip=f"10.201.{subnet}.1",
        browser_ip=f"10.201.{subnet}.2",
    )
    try:
        ip("netns", "add", link.ns)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot create a network namespace for the browser (needs root): {exc}")
    try:
        ip("link", "add", link.server_end, "type", "veth", "peer", "name", browser_end)
        ip("link", "set", browser_end, "netns", link.ns)
        ip("addr", "add", f"{link.server_ip}/24", "dev", link.server_end)
        ip("link", "set", link.server_end, "up")
        ip("link", "set", "lo", "up", ns=link.ns)
        ip("addr", "add", f"{link.browser_ip}/24", "dev", browser_end, ns=link.ns)
        ip("link", "set", browser_end, "up", ns=link.ns)
        yield link
    finally:
        subprocess.run(["ip", "link", "del", link.server_end], capture_output=True, timeout=10)
        subprocess.run(["ip", "netns", "del", link.ns], capture_output=True, timeout=10)


class VethServer(ServerProcess):
    """The server as the browser across the veth link reaches it."""

    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def veth_server(data_dir: Path, link: Veth, *extra: str, port: int | None = None) -> VethServer:
    """``examcast serve`` listening on every address, offering ICE on the veth's server end
    (``port``: the same port again, for a restart on the same data)."""
    args = ["--host", "0.0.0.0", "--ice-host-addresses", link.server_ip, *extra]
    running = start_server(data_dir, *args, port=port)
    server = VethServer(running.data_dir, running.port, running.process, running.log_path)
    server.host = link.server_ip
    return server


async def launch_in_netns(
    playwright: Playwright,
    link: Veth,
    server: ServerProcess,
    args: list[str],
    folder: Path,
    priority: int = 0,
) -> Browser:
    """Chromium started inside the browser's namespace (Playwright talks to it over pipes).
    The server's plain-HTTP address counts as secure there, as localhost does, so the page
    may use the camera. ``priority``: nice levels ahead of other processes (as root), as
    :func:`tests.support.process.higher_priority`."""
    wrapper = folder / f"chromium-in-{link.ns}"
    nice = f"nice -n {-priority} " if priority and os.geteuid() == 0 else ""
    wrapper.write_text(f'#!/bin/sh\nexec {nice}ip netns exec {link.ns} {CHROMIUM} "$@"\n')
    wrapper.chmod(0o755)
    secure = f"--unsafely-treat-insecure-origin-as-secure={server.url}"
    return await playwright.chromium.launch(executable_path=str(wrapper), args=[*args, secure])
