"""QR codes drawn by the server, as SVG (segno): the second camera's link (M3.5)."""

from __future__ import annotations

import io

import segno


def qr_svg(text: str, *, scale: int = 6, title: str = "二机位") -> str:
    """A standalone ``<svg>`` of ``text``: error correction M, a 4-module quiet zone, black
    on white so phones read it on any page theme; namespaced and with a viewBox, so a page
    can parse it as image/svg+xml and size it with CSS."""
    code = segno.make(text, error="m", micro=False, boost_error=False)
    out = io.BytesIO()
    code.save(
        out,
        kind="svg",
        scale=scale,
        border=4,
        dark="#000",
        light="#fff",
        xmldecl=False,
        svgns=True,
        omitsize=True,
        title=title,
        svgclass=None,
        lineclass=None,
    )
    return out.getvalue().decode()
