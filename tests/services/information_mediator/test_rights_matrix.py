"""The rights matrix of the real sandbox topology, enforced by a real IM.

Every application of `sandbox/topology.yaml` calls every service of it through an IM configured with the
topology's own IMconf (`sandbox/topology.py`), every service URL pointing at one echo provider. The IM must
forward exactly the operations the topology grants and refuse everything else with 403 `Client.AccessDenied`:
a service without a right for the caller, and, for a right limited to some operations, any other operation.
The expectations are read from the YAML itself, independently of the IM's own matcher.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from sandbox import topology
from services.common.im_client import hash_secret
from services.information_mediator.app import create_app
from services.information_mediator.settings import IMSettings
from tests.support import LiveServer, fresh_database

ADMIN = "matrix-admin-token"
TOPOLOGY = topology.load()
INSTANCE = TOPOLOGY.instance
CLIENTS = [app.client_id(INSTANCE) for app in TOPOLOGY.applications]
SECRETS = {client: f"secret-of-{client}" for client in CLIENTS}
OUTSIDE = "/__not-an-operation-of-this-right__"


@dataclass(frozen=True)
class Service:
    id: str  # INSTANCE/CLASS/MEMBER/APPLICATION/SERVICE
    rights: dict[str, list[dict] | None]  # client id -> the right's endpoints (None: the whole service)


def _services() -> list[Service]:
    services = []
    for app in TOPOLOGY.applications:
        for s in app.services:
            rights = {
                f"{INSTANCE}/{r.get('class', 'GOV')}/{r['member']}/{r['application']}": r.get("endpoints")
                for r in s.get("rights", [])
            }
            services.append(Service(f"{app.client_id(INSTANCE)}/{s['id']}", rights))
    return services


SERVICES = _services()


def concrete(pattern: str) -> str:
    """A request path the pattern is meant to match."""
    if pattern in ("*", "**"):
        return "/any/path"
    segments = []
    for segment in pattern[1:].split("/"):
        if segment == "**":
            segments += ["rest", "of", "path"]
        elif segment == "*" or (segment.startswith("{") and segment.endswith("}")):
            segments.append("X-1")
        else:
            segments.append(segment)
    return "/" + "/".join(segments)


def granted(endpoints: list[dict]) -> list[tuple[str, str]]:
    return [("PATCH" if e["method"] == "*" else e["method"].upper(), concrete(e["path"])) for e in endpoints]


def outside(endpoints: list[dict]) -> list[tuple[str, str]]:
    """Operations next to the granted ones that the right does not grant."""
    probes = [("GET", OUTSIDE), ("POST", OUTSIDE), ("DELETE", "/")]
    for e in endpoints:
        path = concrete(e["path"])
        same_path = {x["method"].upper() for x in endpoints if x["path"] == e["path"]}
        if "*" not in same_path:
            other = next(m for m in ("DELETE", "PATCH", "PUT", "POST", "GET") if m not in same_path)
            probes.append((other, path))
        if not e["path"].endswith("**") and e["path"] not in ("*", "**"):
            probes.append((e["method"] if e["method"] != "*" else "GET", path.rstrip("/") + "/extra"))
    return probes


def echo_app() -> FastAPI:
    app = FastAPI(title="Echo provider", version="1.0")

    @app.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    async def echo(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "method": request.method,
                "path": request.url.path,
                "client": request.headers.get("information-mediator-client"),
            }
        )

    return app


def matrix_conf(echo_url: str) -> dict:
    doc = TOPOLOGY.imconf({client: hash_secret(secret) for client, secret in SECRETS.items()})
    for member in doc["members"]:
        for app in member["applications"]:
            for service in app["services"]:
                service["serviceUrl"] = f"{echo_url}/{member['code']}/{app['id']}/{service['id']}"
                service["specUrl"] = f"{echo_url}/openapi.json"
    return doc


@pytest.fixture(scope="module")
def im(tmp_path_factory) -> Iterator[httpx.Client]:
    tmp = tmp_path_factory.mktemp("rights-matrix")
    with fresh_database(tmp, "im") as db, LiveServer(echo_app()) as echo:
        settings = IMSettings(**db, data_dir=tmp / "im", admin_token=ADMIN)
        with LiveServer(create_app(settings)) as server, httpx.Client(base_url=server.url, timeout=30) as http:
            r = http.put("/api/v1/config", json=matrix_conf(echo.url), headers={"Authorization": f"Bearer {ADMIN}"})
            assert r.status_code == 201, r.text
            yield http


def call(http: httpx.Client, client: str, service: str, method: str, path: str) -> httpx.Response:
    headers = {"Information-Mediator-Client": client, "Information-Mediator-Client-Secret": SECRETS[client]}
    return http.request(method, f"/r1/{service}{path}", headers=headers, content=b"{}" if method != "GET" else None)


def assert_forwarded(response: httpx.Response, client: str, service: str, method: str, path: str) -> None:
    what = f"{client} -> {method} {service}{path}"
    assert response.status_code == 200, f"{what} should reach the provider: {response.status_code} {response.text}"
    provider_path = "/" + "/".join(service.split("/")[2:]) + path
    assert response.json() == {"method": method, "path": provider_path, "client": client}, what


def assert_refused(response: httpx.Response, client: str, service: str, method: str, path: str) -> None:
    what = f"{client} -> {method} {service}{path}"
    assert response.status_code == 403, f"{what} should be refused: {response.status_code} {response.text[:200]}"
    assert response.headers.get("X-Road-Error") == "Client.AccessDenied", what
    assert response.json()["type"] == "Client.AccessDenied", what


@pytest.mark.parametrize(
    "client,service",
    [(c, s) for c in CLIENTS for s in SERVICES],
    ids=[f"{c.split('/')[-1]}->{s.id.split('/', 3)[-1]}" for c in CLIENTS for s in SERVICES],
)
def test_every_application_gets_exactly_its_rights_on_every_service(im, client, service):
    endpoints = service.rights.get(client, False)
    if endpoints is False:  # no right at all
        for method, path in [("GET", "/"), ("POST", OUTSIDE), ("GET", "/health")]:
            assert_refused(call(im, client, service.id, method, path), client, service.id, method, path)
        return
    if endpoints is None:  # the whole service
        for method, path in [("GET", "/"), ("DELETE", OUTSIDE)]:
            assert_forwarded(call(im, client, service.id, method, path), client, service.id, method, path)
        return
    for method, path in granted(endpoints):
        assert_forwarded(call(im, client, service.id, method, path), client, service.id, method, path)
    for method, path in outside(endpoints):
        assert_refused(call(im, client, service.id, method, path), client, service.id, method, path)


@pytest.mark.parametrize("client", CLIENTS, ids=[c.split("/")[-1] for c in CLIENTS])
def test_allowed_methods_shows_each_application_what_its_rights_allow(im, client):
    for provider in {s.id.rsplit("/", 1)[0] for s in SERVICES}:
        answer = im.get(f"/r1/{provider}/allowedMethods", headers={"X-GovStack-Client": client})
        assert answer.status_code == 200, answer.text
        shown = {
            f"{provider}/{item['serviceCode']}": item["endpointList"]["member"] for item in answer.json()["member"]
        }
        expected = {s.id: s.rights[client] for s in SERVICES if s.id.startswith(provider + "/") and client in s.rights}
        assert set(shown) == set(expected), client
        for service_id, endpoints in expected.items():
            if endpoints is not None:
                assert shown[service_id] == [{"method": e["method"].upper(), "path": e["path"]} for e in endpoints]


PERMIT = f"{INSTANCE}/GOV/MUNICIPALITY/CONSTRUCTION-PERMIT"
USCT = f"{INSTANCE}/GOV/SOCIAL-WELFARE/USCT"
P2G = f"{INSTANCE}/GOV/PAYMENTS-AUTHORITY/PAYMENTS/p2g"
IDENTITY = f"{INSTANCE}/GOV/IDENTITY-AUTHORITY/IDENTITY"


@pytest.mark.parametrize(
    "client,service,method,path",
    [
        # Issue 16, finding 1: the permit's right on p2g reached the ledger and paid out of the USCT fund.
        (PERMIT, P2G, "GET", "/ledger/accounts/FUND:USCT:USD"),
        (PERMIT, P2G, "POST", "/register-beneficiary"),
        (PERMIT, P2G, "POST", "/bulk-payment"),
        (PERMIT, P2G, "POST", "/rtpRequest/%2e%2e/bulk-payment"),
        (PERMIT, P2G, "POST", "/%2E%2E/bulk-payment"),
        # ... and USCT created an identity through its oidc right.
        (USCT, f"{IDENTITY}/oidc", "PUT", "/enrollment"),
        (USCT, f"{IDENTITY}/enrollment", "PUT", "/enrollment"),
    ],
)
def test_the_calls_of_the_finding_are_refused(im, client, service, method, path):
    assert_refused(call(im, client, service, method, path), client, service, method, path)


def test_a_literal_dot_segment_does_not_step_out_of_a_granted_operation(im):
    # httpx resolves `..` before sending; http.client sends the path as written, as an attacker would.
    url = httpx.URL(str(im.base_url))
    connection = http.client.HTTPConnection(url.host, url.port, timeout=30)
    try:
        headers = {"Information-Mediator-Client": PERMIT, "Information-Mediator-Client-Secret": SECRETS[PERMIT]}
        connection.request("POST", f"/r1/{P2G}/rtpRequest/../bulk-payment", body=b"{}", headers=headers)
        answer = connection.getresponse()
        assert answer.status == 403 and answer.getheader("X-Road-Error") == "Client.AccessDenied"
    finally:
        connection.close()


def test_the_permit_still_reaches_the_operations_it_needs(im):
    for method, path in [("POST", "/rtpRequest"), ("POST", "/billTransferRequests")]:
        assert_forwarded(call(im, PERMIT, P2G, method, path), PERMIT, P2G, method, path)
