"""No input makes the service answer 500 or FastAPI's 422; service endpoints are documented."""

from __future__ import annotations

import pytest

from tests.services.identity.helpers import ADMIN_TOKEN

BODIES = [
    b"",
    b"{",
    b"[]",
    b"null",
    b'"x"',
    b"{}",
    b'{"request": []}',
    b'{"requestTime": 1, "request": {"a": 1}}',
    b'{"requestTime": "t", "request": {"transactionId": 5, "linkCode": [], "linkedTransactionId": {},'
    b' "individualId": 7, "challengeList": "x", "acceptedClaims": "name", "id": 3, "fields": []}}',
    b'{"requestId": 1, "individualId": [], "predicates": {}}',
]
POSTS = [
    "/client-mgmt/oidc-client",
    "/linked-authorization/link-code",
    "/linked-authorization/link-status",
    "/linked-authorization/link-auth-code",
    "/linked-authorization/link-transaction",
    "/linked-authorization/authenticate",
    "/linked-authorization/consent",
    "/linked-authorization/send-otp",
    "/wallet-binding",
    "/v1/verification",
    "/oauth/token",
    "/authorize/send-otp",
    "/authorize/authenticate",
    "/authorize/consent",
    "/admin/wallet-partners",
    "/admin/identities/9038952310/unlock",
]


@pytest.mark.parametrize("path", POSTS)
def test_garbage_never_gives_500_or_422(http, path):
    for body in BODIES:
        for headers in ({}, {"Authorization": f"Bearer {ADMIN_TOKEN}"}):
            for content_type in ("application/json", "application/x-www-form-urlencoded"):
                response = http.post(path, content=body, headers={**headers, "content-type": content_type})
                assert response.status_code < 500 and response.status_code != 422, (path, body, response.text)
    put = http.put(
        "/enrollment",
        content=b"{",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "content-type": "application/json"},
    )
    assert put.status_code == 400


def test_odd_authorize_and_userinfo_requests(http):
    for params in ({}, {"client_id": ["a", "b"]}, {"client_id": "x" * 5000}, {"claims": "[]"}):
        assert http.get("/authorize", params=params).status_code == 400
    assert http.get("/oidc/userinfo", headers={"Authorization": "Bearer not-a-jwt"}).status_code == 401
    assert http.get("/oidc/userinfo", headers={"Authorization": "Basic abc"}).status_code == 401


def test_openapi_docs_health_and_ready(http):
    paths = http.get("/openapi.json").json()["paths"]
    for path in (
        "/.well-known/openid-configuration",
        "/.well-known/jwks.json",
        "/authorize",
        "/oauth/token",
        "/oidc/userinfo",
        "/client-mgmt/oidc-client",
        "/client-mgmt/oidc-client/{client_id}",
        "/linked-authorization/link-code",
        "/wallet-binding",
        "/enrollment",
        "/v1/verification",
    ):
        assert path in paths
    assert http.get("/docs").status_code == 200
    assert http.get("/health").status_code == 200 and http.get("/ready").status_code == 200


def test_odd_verification_audit_queries(http):
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    for params in ({"individualId": ["1", "2"]}, {"individualId": "x" * 5000}, {"individualId": " "}, {"caller": "a"}):
        response = http.get("/admin/verification-audit", params=params, headers=admin)
        assert response.status_code in (400, 404), (params, response.text)


def test_openapi_documents_every_success_body(http):
    undocumented = [
        f"{method.upper()} {path} {status}"
        for path, operations in http.get("/openapi.json").json()["paths"].items()
        if path not in ("/health", "/ready")
        for method, operation in operations.items()
        for status, answer in operation["responses"].items()
        if status.startswith("2") and not any(c.get("schema") for c in (answer.get("content") or {}).values())
    ]
    assert undocumented == []
