"""The design documents hold together: every relative link in README.md and docs/ points at
a file that exists, and every decision record is listed in docs/design.md."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _documents() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def test_relative_links_point_at_files_that_exist() -> None:
    broken = []
    for doc in _documents():
        for target in LINK.findall(doc.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue
            path = (doc.parent / target.split("#", 1)[0]).resolve()
            if not path.exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target}")
    assert broken == []


def test_every_decision_is_listed_in_the_design() -> None:
    design = (DOCS / "design.md").read_text(encoding="utf-8")
    records = sorted((DOCS / "decisions").glob("[0-9][0-9][0-9][0-9]-*.md"))
    assert records, "no decision records in docs/decisions"
    unlisted = [r.name for r in records if f"(decisions/{r.name})" not in design]
    assert unlisted == []
    numbers = [r.name[:4] for r in records]
    assert numbers == [f"{n:04d}" for n in range(1, len(records) + 1)], "numbers must run 0001…"
