"""The OpenAPI document matches the routes, and every JSON error has the one shape."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Reply, api_client, assert_error_shape, log_in, register
from tests.support.server import RunningServer
from web.openapi import AUTH, ERROR_STATUS
from web.schema import problems


def api_routes(server: RunningServer) -> set[tuple[str, str]]:
    found = set()
    for resource in server.app.router.resources():
        info = resource.get_info()
        path = info.get("path") or info.get("formatter") or ""
        if not path.startswith("/api/"):
            continue
        methods = {route.method for route in resource}
        for route in resource:
            if route.method == "HEAD" and "GET" in methods:
                continue  # aiohttp answers HEAD for every GET by itself
            found.add((route.method, path))
    return found


async def test_every_api_route_is_documented_and_every_documented_path_exists(
    api_server: RunningServer,
) -> None:
    async with api_client(api_server) as client:
        reply = await client.call("GET", "/api/openapi.json")
    doc = reply.body
    assert doc["openapi"] == "3.1.0"
    documented = {(m.upper(), path) for path, ops in doc["paths"].items() for m in ops}
    routes = api_routes(api_server)
    assert routes - documented == set(), "routes missing from the OpenAPI document"
    assert documented - routes == set(), "documented paths the server does not have"


async def test_every_operation_is_described_fully(api_server: RunningServer) -> None:
    async with api_client(api_server) as client:
        doc = (await client.call("GET", "/api/openapi.json")).body
    ids = set()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            where = f"{method.upper()} {path}"
            assert op["summary"], where
            assert set(op["x-examcast-auth"].split("|")) <= set(AUTH), where  # roles: a|b
            assert "default" in op["responses"], where
            assert op["operationId"] not in ids, where
            ids.add(op["operationId"])
            params = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert params == {seg[1:-1] for seg in path.split("/") if seg.startswith("{")}, where
            for status in op["responses"]:
                assert status == "default" or int(status) < 300 or int(status) in ERROR_STATUS
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:  # a JSON body schema is an object that refuses unknown fields
                schema = body["schema"]
                assert schema["type"] == "object", where
                assert schema.get("additionalProperties") is False, where


def _bad_cases() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("GET", "/api/me", {}),
        ("GET", "/api/no-such-thing", {}),
        ("PUT", "/api/session", {}),
        (
            "POST",
            "/api/session",
            {"data": b"{not json", "headers": {"Content-Type": "application/json"}},
        ),
        ("POST", "/api/session", {"data": b"phone=1", "headers": {"Content-Type": "text/plain"}}),
        ("POST", "/api/session", {"body": {"phone": "13800138000"}}),
        ("POST", "/api/session", {"body": ["a list"]}),
        ("POST", "/api/session", {"body": {"phone": 1, "password": None, "x": 1}}),
        ("POST", "/api/session", {"body": {"phone": "13800138000", "password": "wrong-pass"}}),
        (
            "POST",
            "/api/session",
            {"body": {"phone": "1"}, "headers": {"Sec-Fetch-Site": "cross-site"}},
        ),
        (
            "POST",
            "/api/session",
            {"data": b"x" * (2 * 1024 * 1024), "headers": {"Content-Type": "application/json"}},
        ),
        ("GET", "/api/verification?scope=everything", {}),
        ("GET", "/api/takes/nope", {}),
        ("POST", "/api/units/10001/choose", {}),
        ("GET", "/api/admin/units/10001/admitted-list?limit=x", {}),
        ("POST", "/api/sms-codes", {"body": {"phone": "13800138000"}}),
        (
            "POST",
            "/api/accounts",
            {
                "body": {
                    "phone": "13800138000",
                    "sms_code": "123456",
                    "name": "A",
                    "id_type": "resident_id",
                    "id_number": "11010519491231002X",
                    "password": "correct horse",
                }
            },
        ),
    ]


@pytest.mark.parametrize("method,path,kwargs", _bad_cases())
async def test_every_json_error_has_the_one_shape(
    api_server: RunningServer, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    async with api_client(api_server) as client:
        await client.call("POST", "/api/sms-codes", {"phone": "13800138000"})  # a 429 next
        reply: Reply = await client.call(method, path, **kwargs)
    assert reply.status >= 400, reply
    assert_error_shape(reply)
    assert reply.headers["Content-Type"].startswith("application/json")


async def test_error_codes_are_stable_per_case(api_server: RunningServer) -> None:
    async with api_client(api_server) as client:
        assert (await register(client, "13800138000")).status == 201
        assert (await log_in(client, "13800138000")).status == 200
        wrong = await client.call(
            "POST",
            "/api/agreements/accept",
            {"user_agreement_version": "0", "privacy_policy_version": "0"},
        )
        assert wrong.status == 409 and wrong.code == "conflict"
        fields = await client.call("POST", "/api/verification/attempts", {"scope": "exam:"})
        assert fields.status == 400 and fields.code == "invalid_input"
        assert set(fields.body["error"]["details"]["fields"]) == {"scope"}
        gated = await client.call("GET", "/api/notice")
        assert gated.code == "step_required"
        assert problems({"type": "object", "required": ["error"]}, gated.body) == {}
