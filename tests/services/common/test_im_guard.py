"""A provider serves a non-public route only to the exchange the IM vouched for (issue 16, findings 2 and 3).

Each test here failed on the code before the guard: providers answered direct calls, and an assertion was a
reusable (client, service) bearer token that named no method, path or body.
"""

from __future__ import annotations

import hashlib
import importlib
import time
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet, OKPKey

from services.common.app import create_service_app, im_caller
from services.common.assertion import (
    ASSERTION_HEADER,
    AssertionVerifier,
    Exchange,
    InvalidAssertion,
    sign_assertion,
)
from services.common.guard import PUBLIC, RouteTable
from services.common.settings import ServiceSettings
from tests.support import IMSigner

MIGRATIONS = Path(__file__).parent / "empty_migrations"
OWN = "SANDBOX/GOV/PROVIDER/APP"
CALLER = "SANDBOX/GOV/CALLER/APP"
ROUTES = RouteTable(services={"pay": ("/pay",), "read": ("/accounts",)}, public=("/page",))


def _app(tmp_path, db_fields, **settings) -> FastAPI:
    router = APIRouter()

    @router.post("/pay")
    async def pay(body: dict, request: __import__("fastapi").Request) -> dict:
        call = im_caller(request)
        return {"paid": body.get("amount"), "client": call.client if call else None}

    @router.get("/accounts/{code}")
    def account(code: str) -> dict:
        return {"code": code}

    @router.get("/page")
    def page() -> dict:
        return {"public": True}

    @router.get("/forgotten")
    def forgotten() -> dict:
        return {"listed": False}

    fields = {"service_name": "provider", "data_dir": tmp_path, "im_client": OWN, **db_fields, **settings}
    return create_service_app(
        settings=ServiceSettings(**fields),
        title="provider",
        description="d",
        migrations_dir=MIGRATIONS,
        routers=[router],
        route_table=ROUTES,
    )


@pytest.fixture
def im():
    return IMSigner(CALLER)


@pytest.fixture
def provider(tmp_path, db_fields, im):
    app = _app(tmp_path, db_fields)
    im.trust(app)
    with TestClient(app) as client:
        yield app, client


def _signed(im: IMSigner, service: str, method: str, path: str, body: bytes = b"", key: OKPKey | None = None) -> dict:
    exchange = Exchange(CALLER, f"{OWN}/{service}", method, path, hashlib.sha256(body).hexdigest(), "m-1")
    return {ASSERTION_HEADER: sign_assertion(key or im.key, exchange), "Content-Type": "application/json"}


def test_direct_calls_are_refused_and_public_routes_open(provider):
    _, client = provider
    assert client.post("/pay", json={"amount": 1000}).status_code == 401
    assert client.get("/accounts/FUND:USCT:USD").status_code == 401
    assert client.get("/page").json() == {"public": True}
    assert client.get("/health").status_code == 200
    assert client.get("/forgotten").status_code == 404  # not in the table: nobody may call it


def test_the_exchange_the_im_signed_is_served_once(provider, im):
    _, client = provider
    body = b'{"amount": 1000}'
    headers = _signed(im, "pay", "POST", "/pay", body)
    first = client.post("/pay", content=body, headers=headers)
    assert first.status_code == 200 and first.json() == {"paid": 1000, "client": CALLER}
    replayed = client.post("/pay", content=body, headers=headers)
    assert replayed.status_code == 401 and "already used" in replayed.text


@pytest.mark.parametrize(
    ("service", "method", "signed_path", "signed_body", "why"),
    [
        ("read", "POST", "/pay", b'{"amount": 1000}', "another service"),  # a right on `read` only
        ("pay", "GET", "/pay", b'{"amount": 1000}', "another method"),
        ("pay", "POST", "/pay?to=me", b'{"amount": 1000}', "another path"),
        ("pay", "POST", "/pay", b'{"amount": 1}', "another body"),
    ],
)
def test_an_assertion_for_another_exchange_is_refused(provider, im, service, method, signed_path, signed_body, why):
    _, client = provider
    headers = _signed(im, service, method, signed_path, signed_body)
    response = client.post("/pay", content=b'{"amount": 1000}', headers=headers)
    assert response.status_code in (401, 403), why
    assert "already used" not in response.text


def test_a_forged_or_expired_assertion_is_refused(provider, im):
    _, client = provider
    attacker = OKPKey.generate_key("Ed25519", parameters={"kid": "k"}, private=True)
    assert client.get("/accounts/X", headers=_signed(im, "read", "GET", "/accounts/X", key=attacker)).status_code == 401
    now = int(time.time())
    expired = jwt.encode(
        {"alg": "Ed25519", "kid": im.key.kid},
        {
            "iss": "information-mediator",
            "sub": CALLER,
            "aud": f"{OWN}/read",
            "iat": now - 120,
            "exp": now - 60,
            "jti": "x",
            "htm": "GET",
            "htu": "/accounts/X",
            "bh": hashlib.sha256(b"").hexdigest(),
        },
        im.key,
        algorithms=["Ed25519"],
    )
    assert client.get("/accounts/X", headers={ASSERTION_HEADER: expired}).status_code == 401


def test_the_verifier_alone(tmp_path):
    key = OKPKey.generate_key("Ed25519", parameters={"kid": "k"}, private=True)
    verifier = AssertionVerifier("http://unused", keyset=KeySet([key]))
    exchange = Exchange(CALLER, f"{OWN}/pay", "POST", "/pay", hashlib.sha256(b"{}").hexdigest(), "m-2")
    token = sign_assertion(key, exchange)
    call = verifier.verify(token, exchange)
    assert (call.client, call.service, call.message_id) == (CALLER, f"{OWN}/pay", "m-2")
    with pytest.raises(InvalidAssertion, match="already used"):
        verifier.verify(token, exchange)
    with pytest.raises(InvalidAssertion):
        verifier.verify(None, exchange)


def test_switching_the_checks_off_is_loud(tmp_path, db_fields, capfd):
    app = _app(tmp_path, db_fields, require_im_assertion=False)
    assert "IM assertion checks are OFF" in capfd.readouterr().err
    with TestClient(app) as client:
        assert client.post("/pay", json={"amount": 5}).json() == {"paid": 5, "client": None}


def test_the_checks_are_on_by_default():
    assert ServiceSettings().require_im_assertion is True


APPS = [
    "services.payments.app",
    "services.consent.app",
    "services.identity.app",
    "usecases.cash_transfer.app",
    "usecases.construction_permit.app",
]


def _route_paths(routes) -> list[str]:
    paths = []
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI's included router
            paths += _route_paths(route.original_router.routes)
        elif hasattr(route, "path"):
            paths.append(route.path)
    return paths


@pytest.mark.parametrize("module", APPS)
def test_every_route_belongs_to_a_service_or_is_listed_public(module, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = importlib.import_module(module).create_app()
    table: RouteTable = app.state.route_table
    unlisted = [p for p in _route_paths(app.router.routes) if table.owner(p.replace("{", "x").replace("}", "")) is None]
    assert unlisted == []


def test_per_service_ownership_of_the_payments_routes():
    from services.payments.app import ROUTES as PAYMENTS

    assert PAYMENTS.owner("/ledger/accounts/FUND:USCT:USD") == "g2p"
    assert PAYMENTS.owner("/register-beneficiary") == "mapper"
    assert PAYMENTS.owner("/bulk-payment") == "g2p"
    assert PAYMENTS.owner("/bills/123") == "p2g"
    assert PAYMENTS.owner("/bank/login") == PUBLIC


def test_under_mutual_tls_the_ims_calls_are_served_only_on_the_tls_listener(tmp_path, db_fields, im):
    app = _app(tmp_path, db_fields, require_mtls=True)
    im.trust(app)
    body = b'{"amount": 5}'
    with TestClient(app, base_url="http://testserver") as plain:
        refused = plain.post("/pay", content=body, headers=_signed(im, "pay", "POST", "/pay", body))
        assert refused.status_code == 403 and "mutual TLS" in refused.json()["error"]
        assert plain.get("/page").status_code == 200 and plain.get("/health").status_code == 200
    # uvicorn's TLS listener (sandbox/serve.py) admits only the IM's client certificate and says https.
    with TestClient(app, base_url="https://testserver") as tls:
        served = tls.post("/pay", content=body, headers=_signed(im, "pay", "POST", "/pay", body))
        assert served.status_code == 200 and served.json()["client"] == CALLER
