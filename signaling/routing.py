"""Which node a candidate's live media belongs to: the load balancer decides by ``c``.

Every connection that carries a candidate's live media names the candidate in its
URL (``/socket.io/?…&c=<candidate id>``): their camera pages, their phone, and a
proctor's live view of them. The load balancer hashes ``c`` consistently onto a node
(docs/decisions/0026-routing-by-candidate.md), so both cameras and every viewer of a
candidate meet on one node. The server checks that the media it is asked for is the
candidate the connection was routed by: on one node a missing or wrong ``c`` changes
nothing (there is only one node), in a cluster it means the media landed where its
viewers and other camera may not find it, so it is logged (and counted) each time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

log = logging.getLogger(__name__)

ROUTE_PARAM = "c"


def route_of(environ: dict[str, Any]) -> str | None:
    """The ``c`` of a connect's WSGI environ (its URL's query), if any."""
    values = parse_qs(environ.get("QUERY_STRING", "")).get(ROUTE_PARAM)
    return values[0] if values else None


class RouteCheck:
    """``clustered``: several nodes share the work (a mismatch is a warning, not a detail).
    ``on_mismatch``: a counter for the metrics, if any."""

    def __init__(
        self, node: str, *, clustered: bool, on_mismatch: Callable[[], None] | None = None
    ) -> None:
        self.node = node
        self.clustered = clustered
        self.mismatches = 0
        self._on_mismatch = on_mismatch

    def check(self, route: str | None, candidate_id: str, what: str) -> bool:
        """Whether a connection routed by ``route`` may expect ``candidate_id``'s media
        here; a mismatch is logged, never refused."""
        if route == candidate_id:
            return True
        self.mismatches += 1
        if self._on_mismatch is not None:
            self._on_mismatch()
        log.log(
            logging.WARNING if self.clustered else logging.DEBUG,
            "%s for candidate %s reached node %s with c=%r: the load balancer routes a "
            "candidate's media by c (docs/deploy.md), so this one may be on the wrong node",
            what,
            candidate_id,
            self.node,
            route,
        )
        return False
