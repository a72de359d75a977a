"""Spreadsheet cells that stay text: exports are opened in Excel/WPS by admissions offices."""

from __future__ import annotations

# A cell starting with one of these is run as a formula (CSV injection): a name typed as
# "=HYPERLINK(...)" by a candidate must reach the office as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """A cell's text that no spreadsheet runs as a formula (a leading ``'`` shows it as text)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
