"""Routes declared once: method, path, summary, who may call, request and response schemas.

Each view module makes an :class:`Api` and declares its views with it::

    api = Api("accounts")

    @api.post("/api/session", summary="Log in", body=LOGIN, response=ME, auth="public")
    async def log_in(request: web.Request) -> web.Response:
        body = request[BODY]  # already checked against LOGIN
        ...

``auth`` is enforced, not only documented: before the query, the body and the handler, the
route looks up the session's account (401 without one; 403, audited, with another role) and
puts it at ``request[CALLER]``, so the document is true by construction. ``"account"`` and
``"owner"`` take any logged-in account (``"owner"``: the thing asked for must be theirs,
which the domain decides); ``"public"`` takes anyone.

``api.routes`` goes to the aiohttp router; :func:`document` turns every Api's
operations into the OpenAPI 3.1 document served at ``/api/openapi.json``.
Routes declared elsewhere (``web/routes.py``) are documented with
:meth:`Api.document`.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from exams.identity.accounts import Role
from exams.shared import json_input
from exams.shared.errors import InvalidInput, UnsupportedMediaType
from web.auth import CALLER
from web.keys import AUTH as AUTHENTICATOR
from web.schema import Schema, problems

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
JSON = "application/json"
BODY: web.RequestKey[dict[str, Any]] = web.RequestKey("body", dict)
QUERY: web.RequestKey[dict[str, Any]] = web.RequestKey("query", dict)
# ``c=<candidate id>``: the load balancer routes by it (decision 0026); any call may carry it.
ROUTE_PARAM = "c"

ERROR = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "additionalProperties": False,
            "properties": {
                "code": {"type": "string", "description": "stable, for programs"},
                "message": {"type": "string", "description": "what to do, for people"},
                "details": {"description": "fields, limits or steps, by error code"},
            },
        }
    },
}
ERROR_STATUS = {
    400: "Invalid input (details.fields names each bad field)",
    401: "Not logged in, or wrong credentials",
    403: "Not allowed, or a journey step comes first (code step_required)",
    404: "No such thing (or not yours)",
    409: "Conflicts with the current state",
    410: "Gone: expired, or refused (code upload_expired, gone)",
    412: "Unsupported protocol version (Tus-Resumable)",
    413: "Too large",
    415: "Unsupported media type",
    423: "Busy with another request; try again",
    429: "Too many requests (details.retry_after in seconds)",
    460: "Checksum mismatch (tus checksum extension): nothing was kept",
    503: "Unavailable for a moment (a checker, the database, Redis): try again",
}
AUTH = (
    "public",
    "account",
    "candidate",
    "unit_admin",
    "staff_reviewer",
    "proctor",
    "operator",
    "owner",
)


def roles_of(auth: str) -> tuple[Role, ...] | None:
    """Who an ``auth`` value lets in: ``None`` anyone, ``()`` any account, else these roles
    (several roles are written ``"proctor|unit_admin"``)."""
    if auth == "public":
        return None
    if auth in ("account", "owner"):
        return ()
    return tuple(Role(part) for part in auth.split("|"))


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    auth: str
    description: str = ""
    body: Schema | None = None
    body_type: str = "application/json"  # several: comma separated
    query: Schema | None = None
    response: Schema | None = None
    response_type: str = "application/json"
    status: int = 200
    errors: tuple[int, ...] = ()
    # Protocols that speak in headers (tus): name → meaning.
    request_headers: tuple[tuple[str, str], ...] = ()
    response_headers: tuple[tuple[str, str], ...] = ()
    body_required: bool = True


@dataclass
class Api:
    tag: str
    routes: web.RouteTableDef = field(default_factory=web.RouteTableDef)
    operations: list[Operation] = field(default_factory=list)

    def get(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self._route("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self._route("POST", path, **kw)

    def delete(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self._route("DELETE", path, **kw)

    def head(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self._route("HEAD", path, **kw)

    def patch(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self._route("PATCH", path, **kw)

    def options(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self._route("OPTIONS", path, **kw)

    def document(self, method: str, path: str, **kw: Any) -> None:
        """Describe a route registered elsewhere."""
        self.operations.append(_operation(method, path, **kw))

    def _route(
        self,
        method: str,
        path: str,
        *,
        wrap: Callable[[Handler], Handler] | None = None,
        **kw: Any,
    ) -> Callable[[Handler], Handler]:
        """``wrap``: a protocol's own wrapper (tus), outside the checks, so that its errors
        and headers cover the refusals too."""
        op = _operation(method, path, **kw)
        self.operations.append(op)

        roles = roles_of(op.auth)

        def decorate(handler: Handler) -> Handler:
            @functools.wraps(handler)
            async def checked(request: web.Request) -> web.StreamResponse:
                if roles is not None:
                    request[CALLER] = await request.app[AUTHENTICATOR].require(request, *roles)
                if op.query is not None:
                    request[QUERY] = _query(op.query, request)
                if op.body is not None and op.body_type == JSON:
                    request[BODY] = await _json_body(op.body, request)
                return await handler(request)

            routed = checked if wrap is None else functools.wraps(handler)(wrap(checked))
            self.routes.route(method, path)(routed)
            return routed

        return decorate


def _operation(method: str, path: str, **kw: Any) -> Operation:
    op = Operation(method, path, **kw)
    parts = op.auth.split("|")
    if any(p not in AUTH for p in parts) or (len(parts) > 1 and not set(parts) <= set(Role)):
        raise ValueError(f"{method} {path}: auth must be one of {AUTH}, or roles joined by |")
    return op


async def _json_body(schema: Schema, request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise UnsupportedMediaType("send the body as JSON (Content-Type: application/json)")
    body = json_input.loads(await request.read())
    found = problems(schema, body)
    if found:
        raise InvalidInput(_summary(found), {"fields": found})
    assert isinstance(body, dict)
    return body


def _query(schema: Schema, request: web.Request) -> dict[str, Any]:
    values: dict[str, Any] = {}
    props: dict[str, Schema] = schema.get("properties", {})
    for name, raw in request.query.items():
        if name == ROUTE_PARAM and name not in props:
            continue  # the load balancer's (decision 0026): allowed on every call
        kind = props.get(name, {}).get("type")
        try:
            values[name] = int(raw) if kind == "integer" else raw
        except ValueError:
            values[name] = raw  # reported as "must be an integer" below
    found = problems(schema, values)
    if found:
        raise InvalidInput(_summary(found), {"fields": found})
    return values


def _summary(found: dict[str, str]) -> str:
    first = next(iter(found))
    more = f" (and {len(found) - 1} more: see details.fields)" if len(found) > 1 else ""
    return f"{first} {found[first]}{more}"


def document(apis: Sequence[Api], *, title: str, version: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for api in apis:
        for op in api.operations:
            paths.setdefault(op.path, {})[op.method.lower()] = _describe(api.tag, op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": (
                "Errors all have the shape of components.schemas.Error. Unsafe methods from "
                "another site (Sec-Fetch-Site / Origin) are refused. Log-in sets the HttpOnly "
                "cookie __Host-examcast_session over HTTPS (examcast_session over plain HTTP)."
            ),
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {"Error": ERROR},
            "securitySchemes": {
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "__Host-examcast_session",
                    "description": "examcast_session over plain HTTP",
                }
            },
        },
    }


def _describe(tag: str, op: Operation) -> dict[str, Any]:
    out: dict[str, Any] = {
        "tags": [tag],
        "summary": op.summary,
        "operationId": f"{op.method.lower()}_{op.path.strip('/').replace('/', '_')}".replace(
            "{", ""
        ).replace("}", ""),
        "x-examcast-auth": op.auth,
    }
    if op.description:
        out["description"] = op.description
    if op.auth != "public":
        out["security"] = [{"session": []}]
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _path_params(op.path)
    ]
    if op.query is not None:
        params += [
            {"name": name, "in": "query", "required": False, "schema": schema}
            for name, schema in op.query.get("properties", {}).items()
        ]
    params += [
        {"name": name, "in": "header", "required": False, "description": meaning}
        | {"schema": {"type": "string"}}
        for name, meaning in op.request_headers
    ]
    if params:
        out["parameters"] = params
    if op.body is not None:
        out["requestBody"] = {
            "required": op.body_required,
            "content": _content(op.body_type, op.body),
        }
    ok: dict[str, Any] = {"description": "OK" if op.status != 204 else "No content"}
    if op.response is not None:
        ok["content"] = _content(op.response_type, op.response)
    if op.response_headers:
        ok["headers"] = {
            name: {"description": meaning, "schema": {"type": "string"}}
            for name, meaning in op.response_headers
        }
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    out["responses"] = {
        str(op.status): ok,
        **{str(s): {"description": ERROR_STATUS[s], **error} for s in op.errors},
        "default": {"description": "Error", **error},
    }
    return out


def _content(types: str, schema: Schema) -> dict[str, Any]:
    """``types`` may list several media types, comma separated."""
    return {kind.strip(): {"schema": schema} for kind in types.split(",")}


def _path_params(path: str) -> list[str]:
    return [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")]
