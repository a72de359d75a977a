"""Operating a node: liveness, readiness, draining and ``/metrics`` (docs/deploy.md).

- ``GET /livez``: the event loop answers (a load balancer or supervisor restarts a node
  that does not).
- ``GET /readyz``: 200 when the node takes new work: the database answers, Redis answers
  when one is configured, and the node is not draining; 503 otherwise, with each check's
  outcome. The load balancer sends new connections only to ready nodes.
- Draining (:class:`Drain`): the first SIGTERM makes ``/readyz`` answer 503 and
  new media sessions be refused (``draining``: the page connects again, and the load
  balancer sends it to another node); takes already recording go on until they end
  (their own limits); when none is left the process stops as on SIGINT. A second
  SIGTERM, or ``drain_timeout_s``, stops it sooner (what still records is then stopped
  and stored, as at any shutdown). ``drain_timeout_s`` 0: SIGTERM stops at once.
- ``GET /metrics``: Prometheus text, only with ``Authorization: Bearer <metrics_token>``
  (404 while no token is set): the node's figures are not for candidates.
"""

from __future__ import annotations

import asyncio
import hmac

from aiohttp import web

from exams.shared.errors import NotFound, Unauthenticated
from web.errors import json_error
from web.keys import DRAIN, HUB, METRICS, PICTURES, READINESS, SETTINGS
from web.metrics import CONTENT_TYPE

routes = web.RouteTableDef()


@routes.get("/livez")
async def livez(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"}, headers={"Cache-Control": "no-store"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    ready, body = await request.app[READINESS].report()
    return web.json_response(
        body, status=200 if ready else 503, headers={"Cache-Control": "no-store"}
    )


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    token = request.app[SETTINGS].metrics_token
    if not token:
        raise NotFound("metrics are off on this server (set metrics_token)")
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        response = json_error(
            401, Unauthenticated("send Authorization: Bearer <metrics_token>").to_json()
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    m, drain = request.app[METRICS], request.app[DRAIN]
    pictures = request.app[PICTURES]
    m.refresh(
        request.app[HUB].counts(),
        drain.in_flight,
        drain.draining,
        pictures.stats(),
        pictures.ages(),
    )
    body = await asyncio.to_thread(m.render)
    return web.Response(
        body=body, headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"}
    )
