"""The data directory is private to the server's user: 0700 folders, 0600 files.

It holds personal data (names, ID numbers, phone numbers), password hashes,
secrets and recordings. The rule is kept at the root rather than file by file:
the server process runs with umask 077, so every file and folder it or a
library it calls (SQLite's WAL, PyAV's muxer) creates is private whatever
umask it was started with, and an existing data directory is tightened at
start (a folder others cannot enter protects everything below it; files get
0600 too, for copies made elsewhere with their modes).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600


def use_private_umask() -> None:
    """From now on this process creates files 0600 and folders 0700 (at most)."""
    os.umask(PRIVATE_UMASK)


def make_private(data_dir: Path) -> int:
    """Create ``data_dir`` (0700) or tighten it and everything below; returns how many changed."""
    use_private_umask()
    data_dir.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    changed = _tighten(data_dir, DIR_MODE)
    for root, dirs, files in os.walk(data_dir):
        for name in dirs:
            changed += _tighten(Path(root, name), DIR_MODE)
        for name in files:
            changed += _tighten(Path(root, name), FILE_MODE)
    return changed


def _tighten(path: Path, allowed: int) -> int:
    try:
        info = path.lstat()
    except FileNotFoundError:  # removed meanwhile (an upload's part file)
        return 0
    if stat.S_ISLNK(info.st_mode):
        return 0
    mode = stat.S_IMODE(info.st_mode)
    if mode & ~allowed == 0:
        return 0
    path.chmod(mode & allowed)
    return 1
