"""QR codes drawn by the server, as SVG (segno): the second camera's link (M3.5)."""

from __future__ import annotations

import segno


def qr_svg(text: str, *, scale: int = 6) -> str:
    """An inline ``<svg>`` of ``text`` (error correction M, a 4-module quiet zone, black on
    white so phones read it on any page theme)."""
    code = segno.make(text, error="m", micro=False, boost_error=False)
    return code.svg_inline(scale=scale, border=4, dark="#000", light="#fff", title="二机位")
