"""``examcast serve`` in its own process, one way for the bench and the tests alike: a free
port, the command line, the process with its output in a log file, the SMS codes it logs."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Mapping
from itertools import count
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


# The ports this process hands out, when set (use_port_block): each pytest-xdist worker sets
# a block of its own below the kernel's ephemeral range (32768-60999; tests/conftest.py), so
# no two workers pick the same port and no outgoing connection or UDP socket of another test
# is given a port a server is about to take. Processes a test starts (scripts/cluster) do not
# inherit it: they import this module afresh and ask the kernel, as everyone else does.
_port_block: range | None = None
_next_port = count()


def use_port_block(ports: range | None) -> None:
    global _port_block
    _port_block = ports


def free_port() -> int:
    """A TCP port nobody listens on: the kernel's choice, or the next of this process's block."""
    if _port_block is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])
    for _ in range(len(_port_block)):
        port = _port_block[next(_next_port) % len(_port_block)]
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))  # refused if anyone listens on any address at it
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {_port_block}")


def serve_args(port: int, data_dir: Path, *extra: str) -> list[str]:
    """``python`` arguments for ``examcast serve`` on loopback (ICE too) at ``port``."""
    return [
        "-m",
        "web.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--ice-host-addresses",
        "127.0.0.1",
        "--ice-host-addresses-only",  # not this machine's other interfaces (nor a test's)
        # The ID-suffix stand-in for real-person verification: the bench and the tests type
        # it (the face check's own tests ask for --verifier face).
        "--verifier",
        "id_suffix",
        *extra,
    ]


def spawn(
    args: list[str], log_path: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``python *args`` from the checkout, stdout and stderr into ``log_path``; ``env`` is
    added to this process's environment (secrets go there, not on the command line)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=None if env is None else {**os.environ, **env},
        )


def sms_codes(log_text: str, phone: str) -> list[str]:
    """The codes texted to ``phone``, oldest first: with no SMS gateway the server logs them."""
    return [str(code) for code in re.findall(rf"SMS to {phone} .*?(\d{{6}})", log_text)]
