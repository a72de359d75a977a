"""Imports point one way (docs/design.md, "Layers"): the domain imports no framework and no
other layer; storage and pairing only the domain; media the domain;
signaling the domain, media and pairing; web, the composition root's layer, anything.
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
