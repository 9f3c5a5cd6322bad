"""Per-client sliding-window rate limits on authentication attempts and verification calls (issue 17,
findings 3 and 4: 69 guesses a second, 269 verification questions, nothing slowed either down)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from services.common import demo_world
from tests.services.identity.conftest import running_identity
from tests.services.identity.helpers import (
    ADMIN_TOKEN,
    Browser,
    authorize_url,
    client_key,
    new_client_id,
    page_attempt,
    register,
    wallet_attempt,
)
from tests.support import fresh_database

LIMITS = {"auth_rate_limit": 4, "verification_rate_limit": 3, "rate_window_seconds": 60}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("identity-limits")
    with fresh_database(tmp, "identity") as db, running_identity(db, tmp, **LIMITS) as server:
        yield server


def new_client(http) -> str:  # noqa: ANN001
    client_id = new_client_id()
    register(http, client_id, client_key(0))
    return client_id


def vid(index: int) -> str:
    return demo_world.residents()[index]["vid"]


def test_login_attempts_are_limited_per_client(live, http):
    limited, other = new_client(http), new_client(http)
    for index in range(LIMITS["auth_rate_limit"]):  # a resident each: the lockout is not what stops them
        assert page_attempt(live.url, limited, vid(index), "PIN", "0000").status_code == 400
    browser = Browser(live.url)
    page = browser.open(authorize_url(limited)).text
    refused = browser.send_otp(page, vid(5))
    assert refused.status_code == 429 and "too many requests" in refused.text
    assert int(refused.headers["retry-after"]) > 0
    assert browser.authenticate(page, vid(5), "PIN", "0000").status_code == 429
    assert page_attempt(live.url, other, vid(6), "PIN", "0000").status_code == 400  # another client is not slowed


def test_wallet_attempts_are_limited_per_client(live, http):
    client_id = new_client(http)
    for index in range(LIMITS["auth_rate_limit"]):
        assert wallet_attempt(live.url, client_id, vid(10 + index), "PIN", "0000")["errors"][0]["errorCode"] == (
            "auth_failed"
        )
    refused = wallet_attempt(live.url, client_id, vid(15), "PIN", "0000")
    assert refused["status"] == 429 and "response" not in refused
    assert refused["errors"][0]["errorCode"] == "too_many_requests"


def test_verification_calls_are_limited_per_relying_party(http):
    def ask() -> httpx.Response:
        body = {"requestId": uuid.uuid4().hex, "individualId": vid(20), "predicates": [{"type": "exists"}]}
        return http.post("/v1/verification", json=body, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})

    assert [ask().status_code for _ in range(LIMITS["verification_rate_limit"])] == [200] * 3
    refused = ask()
    assert refused.status_code == 429 and refused.json()["error"] == "too_many_requests"
    assert int(refused.headers["retry-after"]) > 0


def test_otp_requests_of_the_resident_api_are_limited_with_retry_after(http):
    def ask() -> httpx.Response:
        body = {"id": "mosip.identity.otp", "version": "1.0", "requesttime": "2026-11-26T10:00:00.000Z"}
        return http.post("/req/otp", json={**body, "request": {"individualId": vid(25)}})

    assert all(ask().status_code != 429 for _ in range(LIMITS["auth_rate_limit"]))
    refused = ask()
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert refused.json()["id"] == "mosip.identity.otp"
    assert refused.json()["errors"][0]["errorCode"] == "too_many_requests"
