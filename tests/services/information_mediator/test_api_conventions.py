"""One error model and documented success bodies across the IM's own routes (issue 22)."""

from __future__ import annotations

import pytest

from services.information_mediator.app import create_app
from services.information_mediator.settings import IMSettings

from .conftest import CLIENT, CLIENT_SECRET, PROVIDER

PUBSUB_ROOM = "/r1/{instanceId}/{memberClass}/{memberCode}/{applicationCode}"


@pytest.fixture
def openapi(db_fields, tmp_path) -> dict:
    return create_app(IMSettings(**db_fields, data_dir=tmp_path, admin_token="x")).openapi()


SHARED = {"/health", "/ready"}  # services/common/health.py


def test_every_success_body_is_documented_with_a_schema(openapi):
    undocumented = [
        f"{method.upper()} {path} {code}"
        for path, operations in openapi["paths"].items()
        if path not in SHARED
        for method, operation in operations.items()
        for code, response in operation["responses"].items()
        if code.startswith("2")
        and code != "204"
        and not any(media.get("schema") for media in (response.get("content") or {}).values())
    ]
    assert undocumented == []


def test_pubsub_routes_keep_the_rooms_path_parameters(openapi):
    pubsub = [
        (method, path, operation)
        for path, operations in openapi["paths"].items()
        for method, operation in operations.items()
        if operation["tags"] == ["Pub/Sub"]
    ]
    assert len(pubsub) == 14
    for method, path, operation in pubsub:
        assert path.startswith(PUBSUB_ROOM + "/")
        in_path = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
        assert {"instanceId", "memberClass", "memberCode", "applicationCode"} <= in_path, (method, path)


def _detail_follows_the_message_id(response, sent: str | None) -> None:
    assert set(response.json()) == {"type", "message", "detail"}, response.text
    assert response.headers["X-Road-Error"] == response.json()["type"]
    assert response.json()["detail"] == (sent or ""), response.text


@pytest.mark.parametrize("sent", [None, "client-id-1"])
def test_the_ims_own_errors_carry_the_clients_message_id_as_detail(stack, sent):
    headers = {"X-Road-Id": sent} if sent else {}
    room = f"/r1/{PROVIDER}"
    client = {"Information-Mediator-Client": CLIENT, "Information-Mediator-Client-Secret": CLIENT_SECRET}
    refused = [
        stack.admin("GET", "/api/v1/config", token=None, headers=dict(headers)),  # require_admin: 401
        stack.admin("GET", "/api/v1/rights/allow?nextPageToken=%21", headers=dict(headers)),  # 400 from the route
        stack.admin("GET", "/api/v1/audit?limit=0", headers=dict(headers)),  # validation: 400
        stack.http.get("/api/v1/trace", headers=headers),  # reader only: 401
        stack.http.get(f"{room}/api/v1/subs", headers=headers),  # pub/sub without a client: 400
        stack.http.get(f"{room}/pull/v1/none", headers=headers | client),  # pub/sub refusal: 409
        stack.http.delete("/api/v1/status", headers=headers),  # method not allowed
    ]
    assert [r.status_code for r in refused] == [401, 400, 400, 401, 400, 409, 405]
    for response in refused:
        _detail_follows_the_message_id(response, sent)
