"""Everything the server keeps on disk is readable by its own user only, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from tests.integration.test_recording import record
from tests.support.media import SyntheticAudio, SyntheticVideo
from tests.support.server import connected_client, running_server, server_settings


def _tree(root: Path) -> Iterator[Path]:
    yield root
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            yield Path(folder, name)


def _open_to_others(root: Path) -> list[str]:
    return [
        f"{path.relative_to(root)} {stat.filemode(path.lstat().st_mode)}"
        for path in _tree(root)
        if not path.is_symlink() and path.lstat().st_mode & 0o077
    ]


async def test_data_directory_is_private_even_with_a_permissive_umask(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # An older installation: a world-readable folder and a copied file in it.
    (data / "recordings").mkdir(parents=True, mode=0o755)
    data.chmod(0o755)
    stray = data / "recordings" / "old.webm"
    stray.write_bytes(b"x")
    stray.chmod(0o644)
    saved = os.umask(0o022)
    try:
        async with running_server(server_settings(data, password_hash_memory_kib=1024)) as server:
            async with connected_client(server) as client:
                take, _ = await record(client, SyntheticVideo(), SyntheticAudio(), 1.0)
            assert take["manifest"]["segments"], take
            files = [p for p in _tree(data) if p.is_file()]
            assert any(p.name == "examcast.sqlite3" for p in files)
            assert any(p.suffix == ".webm" and p != stray for p in files), files
            assert _open_to_others(data) == []
    finally:
        os.umask(saved)
