"""The pages' two string catalogues agree: node's test runner runs tests/js/catalogues.test.mjs
(same keys, same {placeholders} per key in lang/zh.js and lang/en.js) in well under a second,
without a browser."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_catalogues_have_the_same_keys_and_placeholders() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the catalogue check needs node's test runner")
    result = subprocess.run(
        [node, "--test", str(ROOT / "tests" / "js" / "catalogues.test.mjs")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
