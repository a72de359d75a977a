"""The pages' scripts keep their layout (docs/pages.md): node's test runner runs
tests/js/layout.test.mjs (imports exist and run downwards, pages load their entry module,
one fetch wrapper, one ``$``, one ``errorText``) in well under a second, without a browser."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_page_scripts_keep_their_layout() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the layout check needs node's test runner")
    result = subprocess.run(
        [node, "--test", str(ROOT / "tests" / "js" / "layout.test.mjs")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
