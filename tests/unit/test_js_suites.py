"""The pages' JavaScript checks that need no browser: node's test runner runs each
tests/js/*.test.mjs in well under a second.

- catalogues.test.mjs: lang/zh.js and lang/en.js have the same keys and the same
  {placeholders} per key;
- layout.test.mjs: the scripts keep their layout (docs/pages.md): imports exist and run
  downwards, pages load their entry module, one fetch wrapper, one ``$``, one ``errorText``;
- clock.test.mjs: the page's server clock (lib/clock.js) places round trips at their
  midpoint and keeps the best of the last few;
- uplink.test.mjs: a page's uplink (lib/uplink.js) told ``draining`` reconnects its socket
  (to another node) instead of failing.
- api-route.test.mjs: the candidate's pages send ``c=`` with every call once they know
  the account (lib/api.js ``routeCalls``); an upload's id leaves its URL's query out.
- sending.test.mjs: the offer says a stereo microphone, the senders get the exam's
  bitrates, the sound first (lib/sending.js, issue #18).
"""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUITES = sorted(p.name for p in (ROOT / "tests" / "js").glob("*.test.mjs"))


def test_every_suite_is_run() -> None:
    assert {"catalogues.test.mjs", "layout.test.mjs", "clock.test.mjs"} <= set(SUITES)


@pytest.mark.parametrize("suite", SUITES)
def test_node_suite(suite: str) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the pages' own checks need node's test runner")
    result = subprocess.run(
        [node, "--test", str(ROOT / "tests" / "js" / suite)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
