"""Imports point one way (docs/design.md, "Layers"): the domain imports no framework and no
other layer; storage and pairing only the domain; media the domain;
signaling the domain, media and pairing; web, the composition root's layer, anything.
Inside the domain, its rooms point one way too (docs/design.md, "The domain's rooms").
Read from the source with ast, so a lazy import inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("exams", "pairing", "storage", "media", "signaling", "web")

# The layers each may import (besides itself).
ALLOWED = {
    "exams": set(),
    "pairing": {"exams"},
    "storage": {"exams"},
    "media": {"exams"},
    "signaling": {"exams", "media", "pairing"},
    "web": set(LAYERS),
}
# What the domain must not touch: I/O frameworks, media, databases (it defines ports instead).
NOT_IN_DOMAIN = {
    "aiohttp", "aiortc", "aioice", "av", "redis", "sqlite3", "socketio", "engineio", "numpy",
    "psutil", "uvloop", "cryptography", "argon2", "segno",
}  # fmt: skip
# The bench (examcast bench, bench-upload) drives a whole server: a tool outside the layers,
# which no layer imports (web/cli.py aside, lazily, to run it from a checkout).
TOOL = "bench"
# The domain's rooms, lowest first: a room imports only itself and the rooms before it
# (``shared`` holds the ports every room uses: clock, scheduler, audit, errors).
ROOMS = ("shared", "identity", "catalog", "admission", "answering", "uploads", "proctoring")


def _exams_imports(path: Path) -> set[str]:
    """The domain's modules ``path`` imports, as dotted names (``exams.x.y``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "exams")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "exams" or node.module.startswith("exams."):
                found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def _modules(layer: str) -> list[Path]:
    return sorted(p for p in (ROOT / layer).rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_imports_point_one_way(layer: str) -> None:
    wrong = []
    for path in _modules(layer):
        name = path.relative_to(ROOT).as_posix()
        for imported in _imports(path):
            if imported in LAYERS and imported != layer and imported not in ALLOWED[layer]:
                wrong.append(f"{name} imports {imported}")
            if layer == "exams" and imported in NOT_IN_DOMAIN:
                wrong.append(f"{name} imports {imported} (the domain defines a port instead)")
            if imported == TOOL and name != "web/cli.py":
                wrong.append(f"{name} imports the bench, which is not installed")
    assert wrong == []


def test_every_domain_module_sits_in_a_room() -> None:
    placed = [p.relative_to(ROOT / "exams").parts for p in _modules("exams")]
    loose = [
        "/".join(parts)
        for parts in placed
        if parts != ("__init__.py",) and not (len(parts) == 2 and parts[0] in ROOMS)
    ]
    assert loose == []


def test_rooms_of_the_domain_import_one_way() -> None:
    wrong = []
    for path in _modules("exams"):
        parts = path.relative_to(ROOT / "exams").parts
        if len(parts) < 2:
            continue
        room = ROOMS.index(parts[0])
        for imported in _exams_imports(path):
            target = imported.split(".")[1]
            if target not in ROOMS:
                wrong.append(f"{path.relative_to(ROOT).as_posix()} imports {imported} (no room)")
            elif ROOMS.index(target) > room:
                wrong.append(
                    f"{path.relative_to(ROOT).as_posix()} imports {imported}, a room above"
                )
    assert wrong == []
