"""The wheel holds every module and every page, and building it is quiet.

pyproject.toml finds the packages (web/static's folders as namespace packages of data), so a
new subpackage or a new folder of pages is installed without anyone listing it; a hand-kept
list once left web/views out of a non-editable install. Built offline from a copy of the
sources, with the test environment's setuptools.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["web", "signaling", "media", "pairing", "storage", "exams"]
# In the checkout, not in the wheel: the bench is a development tool (docs/bench.md).
DEV_ONLY = ["bench"]


def _setuptools_major() -> int:
    try:
        return int(version("setuptools").split(".")[0])
    except Exception:
        return 0


def _sources(root: Path) -> set[str]:
    """Every file of the packages, as a path inside the wheel."""
    names = set()
    for package in PACKAGES:
        for path in (root / package).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                names.add(path.relative_to(root).as_posix())
    return names


def _copy_sources(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for package in PACKAGES + DEV_ONLY:
        shutil.copytree(
            ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    return src


def _setuptools_warnings(log: str) -> list[str]:
    return [
        line
        for line in log.splitlines()
        if ("Warning" in line or "InformationOnly" in line)
        and ("setuptools" in line or "absent from the" in line)
    ]


needs_setuptools = pytest.mark.skipif(
    _setuptools_major() < 77, reason="needs setuptools >= 77 (scripts/setup --test installs it)"
)


@needs_setuptools
def test_wheel_has_every_module_and_page_and_builds_without_warnings(tmp_path: Path) -> None:
    src = _copy_sources(tmp_path)
    out = tmp_path / "out"
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation"]
    result = subprocess.run(
        [*pip_wheel, "--no-index", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    assert _setuptools_warnings(log) == []

    (wheel,) = out.glob("examcast-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        in_wheel = set(zf.namelist())
    missing = sorted(_sources(src) - in_wheel)
    assert missing == []
    assert "web/static/login.html" in in_wheel
    assert "web/static/js/lang/zh.js" in in_wheel
    assert [n for n in in_wheel if n.split("/")[0] in DEV_ONLY] == []


@needs_setuptools
def test_editable_build_is_quiet(tmp_path: Path) -> None:
    """What `pip install -e .` runs (PEP 660's build_editable), with every warning shown."""
    src = _copy_sources(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    build = "import sys, setuptools.build_meta as b; b.build_editable(sys.argv[1])"
    result = subprocess.run(
        [sys.executable, "-W", "always", "-c", build, str(out)],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    assert _setuptools_warnings(log) == []
    assert list(out.glob("examcast-*.whl"))
