"""``examcast serve`` in its own process, one way for the bench and the tests alike: a free
port, the command line, the process with its output in a log file, the SMS codes it logs."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
        *extra,
    ]


def spawn(args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """``python *args`` from the checkout, stdout and stderr into ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )


def sms_codes(log_text: str, phone: str) -> list[str]:
    """The codes texted to ``phone``, oldest first: with no SMS gateway the server logs them."""
    return [str(code) for code in re.findall(rf"SMS to {phone} .*?(\d{{6}})", log_text)]
