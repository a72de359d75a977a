"""Every declared route refuses exactly whom its ``auth`` declaration says, before its handler.

Walks the OpenAPI document (so a route added later is walked too) with anonymous, a
candidate and every staff role. A refused call must be 401 (no session) or 403 naming the
role (audited as access_denied); the body sent is one the route would refuse as bad input
(400/415) if the check came after the view had started, so a refusal shows the declaration
ran first. An allowed call must not be the declaration's refusal.
"""

from __future__ import annotations

import re
from contextlib import AsyncExitStack

from exams.identity.accounts import Role
from exams.shared.ports import Event
from tests.support.api import ApiClient, Reply, api_client, signed_up
from tests.support.exams import add_unit, staff
from tests.support.server import RunningServer
from web.keys import AUDIT, OPENAPI
from web.openapi import roles_of

UNIT = "10041"
ANONYMOUS = "anonymous"
TUS = "/api/uploads"  # its refusals carry the tus headers too
STAFF = (Role.UNIT_ADMIN, Role.PROCTOR, Role.STAFF_REVIEWER, Role.OPERATOR)


def declared(server: RunningServer) -> list[tuple[str, str, str, bool]]:
    """(method, concrete path, auth, JSON body?) of every documented operation."""
    out = []
    for path, ops in server.app[OPENAPI]["paths"].items():
        concrete = re.sub(r"\{[^}/]+\}", "x1", path)
        for method, op in ops.items():
            json_body = "application/json" in op.get("requestBody", {}).get("content", {})
            out.append((method.upper(), concrete, op["x-examcast-auth"], json_body))
    return out


def refused_by_declaration(reply: Reply) -> bool:
    if reply.status == 401:
        return True
    message = reply.body["error"]["message"] if reply.code == "forbidden" else ""
    return reply.status == 403 and message.startswith("this needs the role")


async def call(client: ApiClient, method: str, path: str, json_body: bool) -> Reply:
    headers = {"Tus-Resumable": "1.0.0"}  # tus routes: the protocol check comes first
    if json_body:  # not JSON at all: 400 from the route if it got as far as the body
        headers["Content-Type"] = "application/json"
        return await client.call(method, path, data=b"{", headers=headers)
    return await client.call(method, path, headers=headers)


async def test_every_route_refuses_exactly_whom_it_declares(api_server: RunningServer) -> None:
    await add_unit(api_server, UNIT)
    async with AsyncExitStack() as stack:
        clients: dict[str, ApiClient] = {}
        ids: dict[str, str] = {}
        clients[ANONYMOUS] = await stack.enter_async_context(api_client(api_server))
        candidate = await stack.enter_async_context(api_client(api_server))
        ids[Role.CANDIDATE.value] = (await signed_up(candidate, "13900000001")).id
        clients[Role.CANDIDATE.value] = candidate
        for role in STAFF:
            client = await stack.enter_async_context(api_client(api_server))
            unit = UNIT if role is Role.UNIT_ADMIN else None
            ids[role.value] = (await staff(api_server, client, role, unit)).id
            clients[role.value] = client

        walked = 0
        wrong: list[str] = []
        for method, path, auth, json_body in declared(api_server):
            allowed = roles_of(auth)
            if allowed is None:
                # Public: nobody is refused by the declaration; anonymous is the strictest.
                reply = await call(clients[ANONYMOUS], method, path, json_body)
                walked += 1
                if refused_by_declaration(reply) and reply.status != 401:
                    wrong.append(f"{method} {path} public, anonymous got {reply.status}")
                continue
            for who, client in clients.items():
                before = await denials(api_server, ids.get(who))
                reply = await call(client, method, path, json_body)
                walked += 1
                where = f"{method} {path} ({auth}) as {who}: {reply.status} {reply.body!r:.120}"
                if path.startswith(TUS) and reply.headers.get("Tus-Resumable") != "1.0.0":
                    wrong.append(f"{where}; no Tus-Resumable header")
                if who == ANONYMOUS:
                    if reply.status != 401 or (
                        method != "HEAD" and reply.code != "unauthenticated"
                    ):
                        wrong.append(where)
                elif allowed and Role(who) not in allowed:
                    audited = (await denials(api_server, ids[who]))[len(before) :]
                    forbidden = reply.status == 403 and (
                        method == "HEAD" or refused_by_declaration(reply)
                    )
                    if not forbidden or audited != [(method, path)]:
                        wrong.append(f"{where}; audited {audited}")
                elif refused_by_declaration(reply):
                    wrong.append(where)
        assert wrong == [], "\n".join(wrong)
        assert walked > 400, walked

        # Nothing walked ended a session: every account is still logged in.
        for who, client in clients.items():
            if who != ANONYMOUS:
                assert (await client.call("GET", "/api/me")).status == 200, who


async def denials(server: RunningServer, account_id: str | None) -> list[tuple[str, str]]:
    if account_id is None:
        return []
    entries = await server.app[AUDIT].recent(100_000, account_id)
    return [
        (e.detail["method"], e.detail["path"])
        for e in reversed(entries)
        if e.event is Event.ACCESS_DENIED and "method" in e.detail
    ]
