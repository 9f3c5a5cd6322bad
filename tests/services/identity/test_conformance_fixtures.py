"""The conformance profile's Identity fixtures (sandbox/conformance/identity.yaml): loaded as real records, each
read back through the API, consumed the way GovStack's checks consume them, and restored by a reseed (the CLI,
run beside the running service as the profile runs it)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from joserfc.jwk import ECKey
from sqlalchemy import func, select

from services.identity import conformance
from services.identity.identities.models import Identity, Vid
from tests.services.identity.conftest import running_identity
from tests.services.identity.helpers import ADMIN_TOKEN, NOW, authorize_url
from tests.support import fresh_database

ROOT = Path(__file__).resolve().parents[3]
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
WALLET_PEOPLE = ["n3fy2qkg9r7h2", "n3fy2qkg9r7h3", "n3fy2qkg9r7h4", "n3fy2qkg9r7h5"]
PASSWORD_PERSON = "05a5eecd-8b70-480d-9662-b2e63e4bafdb"
CLIENT = "govstack-conformance"
FIXTURE_REDIRECT = "http://example.com/login-success"
PARTNER = {"PARTNER-ID": "PARTNER-ID", "PARTNER-API-KEY": "PARTNER-API-KEY"}
LIVE_TRANSACTIONS = [
    "transactionId01",
    "transactionId02",
    "transactionId03",
    "transaction_id_003",
    "transactionIdToBeExpired",
]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """Identity as the conformance profile starts it (its settings), with the fixtures loaded."""
    tmp = tmp_path_factory.mktemp("identity-conformance")
    with fresh_database(tmp, "identity") as db, running_identity(db, tmp, **conformance.profile_settings()) as server:
        server.database = db
        with server.app.state.db.session() as session:
            conformance.seed(session, server.app.state.secrets, conformance.read_fixtures())
        yield server


def env(request: dict) -> dict:
    return {"requestTime": NOW, "request": request}


def errors(answer: httpx.Response) -> list[str]:
    return [e["errorCode"] for e in answer.json().get("errors") or []]


class Page:
    """What GovStack's checks do on the browser side: the fixture's XSRF token as cookie and header."""

    def __init__(self, base_url: str):
        self.http = httpx.Client(base_url=base_url, timeout=30, cookies={"XSRF-TOKEN": "X-XSRF-TOKEN"})

    def post(self, path: str, request: dict) -> httpx.Response:
        return self.http.post(path, json=env(request), headers={"X-XSRF-TOKEN": "X-XSRF-TOKEN"})

    def link_code(self, transaction_id: str) -> httpx.Response:
        return self.post("/linked-authorization/link-code", {"transactionId": transaction_id})


def link(http: httpx.Client, page: Page, transaction_id: str) -> tuple[str, str]:
    code = page.link_code(transaction_id).json()["response"]["linkCode"]
    answer = http.post("/linked-authorization/link-transaction", json=env({"linkCode": code}))
    return code, answer.json()["response"]["linkTransactionId"]


def authenticate(http: httpx.Client, linked_id: str, individual_id: str, challenge: str, fmt: str) -> httpx.Response:
    request = {
        "linkedTransactionId": linked_id,
        "individualId": individual_id,
        "challengeList": [{"authFactorType": "PIN", "challenge": challenge, "format": fmt}],
    }
    return http.post("/linked-authorization/authenticate", json=env(request))


def bind(http: httpx.Client, individual_id: str, key: ECKey, headers: dict = PARTNER) -> httpx.Response:
    request = {
        "individualId": individual_id,
        "authFactorType": "WLA",
        "format": "jwt",
        "challengeList": [{"authFactorType": "PIN", "challenge": "1234", "format": "number"}],
        "publicKey": key.as_dict(private=False),
    }
    return http.post("/wallet-binding", json=env(request), headers=headers)


def exists(http: httpx.Client, individual_id: str) -> bool:
    answer = http.post(
        "/v1/verification",
        json={
            "requestId": f"exists-{individual_id}",
            "individualId": individual_id,
            "predicates": [{"type": "exists"}],
        },
        headers=ADMIN,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["verified"]


def test_every_fixture_reads_back_through_the_api(live, http):
    assert all(exists(http, person) for person in [*WALLET_PEOPLE, PASSWORD_PERSON])
    assert errors(bind(http, "n3fy2qkg9r7h2", ECKey.generate_key("P-256", private=True))) == []
    assert (
        bind(http, "n3fy2qkg9r7h2", ECKey.generate_key("P-256"), {**PARTNER, "PARTNER-API-KEY": "x"}).status_code == 401
    )

    page = Page(live.url)
    for transaction_id in LIVE_TRANSACTIONS:
        issued = page.link_code(transaction_id).json()
        assert issued["errors"] == [] and issued["response"]["transactionId"] == transaction_id
        expires = datetime.fromisoformat(issued["response"]["expireDateTime"].replace("Z", "+00:00"))
        assert 0 < (expires - datetime.now(UTC)).total_seconds() < 30  # the profile's short link-code life
    assert errors(page.link_code("transactionId04")) == ["invalid_transaction"]  # already completed
    without_cookie = httpx.post(
        f"{live.url}/linked-authorization/link-code",
        json=env({"transactionId": "transactionId02"}),
        headers={"X-XSRF-TOKEN": "X-XSRF-TOKEN"},
    )
    assert without_cookie.status_code == 403  # the XSRF check stays as the spec has it (cookie and header)

    code = page.link_code("transactionId01").json()["response"]["linkCode"]
    details = http.post("/linked-authorization/link-transaction", json=env({"linkCode": code})).json()["response"]
    assert details["clientName"] == "GovStack conformance checks" and details["authorizeScopes"] == []
    assert details["voluntaryClaims"] == ["name", "gender", "birthdate"]
    linked_id = details["linkTransactionId"]
    assert errors(authenticate(http, linked_id, PASSWORD_PERSON, "password", "number")) == ["auth_failed"]
    assert errors(authenticate(http, linked_id, PASSWORD_PERSON, "password", "alpha-numeric")) == []
    consent = {"linkedTransactionId": linked_id, "acceptedClaims": ["name"], "permittedAuthorizeScopes": []}
    assert errors(http.post("/linked-authorization/consent", json=env(consent))) == []
    handed = page.post("/linked-authorization/link-auth-code", {"transactionId": "transactionId01", "linkedCode": code})
    assert {k: v for k, v in handed.json()["response"].items() if k != "code"} == {
        "redirectUri": "http://example.com/login-success",
        "state": "eree2311",
        "nonce": "973eieljzng",
    }


def test_a_new_link_code_restarts_the_wallet_login(live, http):
    """transactionId01 serves one link cycle after another: each new link code drops the wallet linked before
    (and its authentication), until the login's authorization code is handed out."""
    page = Page(live.url)
    _, first = link(http, page, "transactionId02")
    assert errors(authenticate(http, first, "n3fy2qkg9r7h3", "1234", "number")) == []
    code, second = link(http, page, "transactionId02")
    assert second != first
    consent = {"linkedTransactionId": first, "acceptedClaims": []}
    assert errors(http.post("/linked-authorization/consent", json=env(consent))) == ["invalid_transaction_id"]
    consent = {"linkedTransactionId": second, "acceptedClaims": []}
    assert errors(http.post("/linked-authorization/consent", json=env(consent))) == ["invalid_transaction"]
    assert errors(authenticate(http, second, "n3fy2qkg9r7h3", "1234", "number")) == []
    assert errors(http.post("/linked-authorization/consent", json=env(consent))) == []
    assert page.post(
        "/linked-authorization/link-auth-code", {"transactionId": "transactionId02", "linkedCode": code}
    ).json()["response"]["code"]
    assert errors(page.link_code("transactionId02")) == ["invalid_transaction"]


def reseed_with_the_cli(live) -> str:  # noqa: ANN001
    """`python -m services.identity.conformance` with the service's settings, while it runs."""
    settings = live.app.state.settings
    environment = {k: v for k, v in os.environ.items() if not k.startswith("IDENTITY_") and k != "DATABASE_URL"}
    environment.update(
        {
            "IDENTITY_DATABASE_URL": live.database["database_url"],
            **(
                {"IDENTITY_DATABASE_SCHEMA": live.database["database_schema"]}
                if live.database["database_schema"]
                else {}
            ),
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "services.identity.conformance", "--data-dir", str(settings.data_dir)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def fixture_identities(live) -> tuple[int, int]:  # noqa: ANN001
    with live.app.state.db.session() as session:
        vids = session.scalar(
            select(func.count()).select_from(Vid).where(Vid.vid.in_([*WALLET_PEOPLE, PASSWORD_PERSON]))
        )
        return vids, session.scalar(select(func.count()).select_from(Identity))


def test_a_reseed_restores_what_the_checks_changed(live, http):
    page = Page(live.url)
    key = ECKey.generate_key("P-256", private=True)
    assert errors(bind(http, "n3fy2qkg9r7h4", key)) == []
    assert errors(bind(http, "n3fy2qkg9r7h4", key)) == ["duplicate_public_key"]
    # five wrong passwords in a row lock the resident (a login dies at its third failure: two logins and a third)
    for transaction_id, failures in (
        ("transactionId03", 2),
        ("transactionIdToBeExpired", 2),
        ("transaction_id_003", 1),
    ):
        _, linked_id = link(http, page, transaction_id)
        for _ in range(failures):
            assert errors(authenticate(http, linked_id, PASSWORD_PERSON, "wrong0000", "alpha-numeric")) == [
                "auth_failed"
            ]
    locked = authenticate(http, linked_id, PASSWORD_PERSON, "password", "alpha-numeric").json()["errors"][0]
    assert "locked" in locked["errorMessage"]
    code, linked_id = link(http, page, "transaction_id_003")
    assert errors(authenticate(http, linked_id, "n3fy2qkg9r7h4", "1234", "number")) == []
    http.post("/linked-authorization/consent", json=env({"linkedTransactionId": linked_id, "acceptedClaims": []}))
    page.post("/linked-authorization/link-auth-code", {"transactionId": "transaction_id_003", "linkedCode": code})
    assert errors(page.link_code("transaction_id_003")) == ["invalid_transaction"]  # used up
    http.post("/admin/wallet-partners", json={"partnerId": "PARTNER-ID"}, headers=ADMIN)  # a new API key
    assert bind(http, "n3fy2qkg9r7h4", key).status_code == 401
    client = {
        "clientName": "Renamed",
        "status": "inactive",
        "logoUri": "https://rp.example/logo.png",
        "redirectUris": ["https://rp.example/callback"],
        "userClaims": ["name"],
        "authContextRefs": ["idbb:acr:generated-code"],
        "grantTypes": ["authorization_code"],
        "clientAuthMethods": ["private_key_jwt"],
    }
    assert http.put(f"/client-mgmt/oidc-client/{CLIENT}", json=env(client), headers=ADMIN).json()["errors"] == []
    assert http.get(authorize_url(CLIENT, redirect_uri=FIXTURE_REDIRECT)).status_code == 400
    before = fixture_identities(live)

    assert '"transactions": 6' in reseed_with_the_cli(live)

    assert fixture_identities(live) == before == (5, before[1])  # nothing created twice
    assert errors(bind(http, "n3fy2qkg9r7h4", key)) == []  # partner key restored, the checks' binding gone
    assert http.get(authorize_url(CLIENT, redirect_uri=FIXTURE_REDIRECT)).status_code == 200  # client restored
    assert page.link_code("transaction_id_003").json()["errors"] == []
    _, linked_id = link(http, page, "transactionId03")
    assert errors(authenticate(http, linked_id, PASSWORD_PERSON, "password", "alpha-numeric")) == []  # unlocked


def test_the_default_demo_world_has_no_fixtures(tmp_path):
    with (
        fresh_database(tmp_path, "identity") as db,
        running_identity(db, tmp_path) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        assert not exists(http, "n3fy2qkg9r7h2")
        assert bind(http, "n3fy2qkg9r7h2", ECKey.generate_key("P-256")).status_code == 401
        assert errors(Page(server.url).link_code("transactionId01")) == ["invalid_transaction_id"]


def test_the_profile_settings_come_from_the_fixture_file(capsys):
    assert conformance.main(["--environment"]) == 0
    assert capsys.readouterr().out == "IDENTITY_LINK_CODE_TTL_SECONDS=25\n"
