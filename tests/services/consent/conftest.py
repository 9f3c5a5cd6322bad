from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from joserfc import jws
from joserfc.jwk import ECKey

from services.consent.app import create_app
from services.consent.settings import ConsentSettings
from tests.support import IMSigner

USCT = "da-usct-enrollment"
PERMIT = "da-construction-permit-owner"
HEADER = "X-ConsentBB-IndividualId"
PROOF = "X-ConsentBB-Individual-Proof"
ADMIN = "test-consent-admin-token"
OPERATOR = {"Authorization": f"Bearer {ADMIN}"}
# IM clients (INSTANCE/CLASS/MEMBER/APPLICATION) and their members, as in sandbox/topology.yaml and seed.py
USCT_APP = "SANDBOX/GOV/SOCIAL-WELFARE/USCT"
PERMIT_APP = "SANDBOX/GOV/MUNICIPALITY/CONSTRUCTION-PERMIT"
PAYMENTS_APP = "SANDBOX/GOV/PAYMENTS-AUTHORITY/PAYMENTS"
WELFARE, MUNICIPALITY = "SANDBOX/GOV/SOCIAL-WELFARE", "SANDBOX/GOV/MUNICIPALITY"


@pytest.fixture
def settings(db_fields, tmp_path):
    return ConsentSettings(
        **db_fields,
        data_dir=tmp_path,
        seed=True,
        im_client=None,
        admin_token=ADMIN,
        callback_allow_list=["http://127.0.0.1:9/"],
        webhook_retry_base_seconds=0.05,
        webhook_poll_seconds=0.05,
        webhook_max_attempts=4,
    )


@pytest.fixture
def im():
    """Plays the IM toward the app: one key, any number of client applications."""
    return IMSigner()


@pytest.fixture
def app(settings):
    return create_app(settings)


@pytest.fixture
def client(app, im):
    """The operator (admin token), calling through the IM: may do everything, the individual's proof aside."""
    with im.attach(TestClient(app, headers=OPERATOR), app) as c:
        yield c


def as_client(app, im, client_id):
    """A member application calling through the IM (no operator token); start the app with `client` first."""
    return im.attach(TestClient(app), app, client_id=client_id)


@pytest.fixture
def usct(app, im, client):
    return as_client(app, im, USCT_APP)


@pytest.fixture
def town(app, im, client):
    """The municipality's construction-permit application."""
    return as_client(app, im, PERMIT_APP)


@pytest.fixture
def individual(client):
    """A fresh individual (id) so tests do not share consent state."""
    return new_individual(client)


_counter = iter(range(1, 10**9))


def new_individual(client, external_id=None):
    ext = external_id or f"ext-{next(_counter)}-{id(client)}"
    r = client.post("/service/individual/", json={"individual": {"externalId": ext, "externalIdType": "test"}})
    assert r.status_code == 200, r.text
    return r.json()["individual"]["id"]


class Holder:
    """An individual's own signing key (what a wallet or eSignature service would hold)."""

    def __init__(self):
        self.key = ECKey.generate_key("P-256", private=True)

    @property
    def public_jwk(self) -> str:
        return json.dumps(self.key.as_dict(private=False))

    def sign(self, payload: str) -> str:
        return jws.serialize_compact({"alg": "ES256"}, payload.encode(), self.key)


@pytest.fixture
def holder():
    return Holder()


def assert_403(response):
    assert response.status_code == 403, (response.status_code, response.text)
    body = response.json()
    assert body["error"] == "forbidden" and body["message"]
    return body


def assert_400(response):
    assert response.status_code == 400, (response.status_code, response.text)
    body = response.json()
    assert body["error"] == "bad input parameter" and body["message"]
    return body


class Receiver:
    """A webhook target: records requests; answers with the queued status codes, then 200."""

    def __init__(self, statuses=()):
        self.requests: list[dict] = []
        self.statuses = list(statuses)
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.requests.append({"headers": dict(self.headers), "body": body})
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):  # silence
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
