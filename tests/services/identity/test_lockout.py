"""Failed authentications are counted per identity, across logins and factors, with an exponential lockout
(issue 17, finding 3: a PIN could be guessed in minutes by opening a new login for every three guesses)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from joserfc.jwk import ECKey
from sqlalchemy import select

from services.common import demo_world
from services.identity.identities.models import Identity, Vid
from tests.services.identity.conftest import running_identity
from tests.services.identity.helpers import (
    ADMIN_TOKEN,
    NOW,
    OTP,
    PIN,
    Browser,
    authenticated,
    authorize_url,
    client_key,
    new_client_id,
    page_attempt,
    register,
    wallet_attempt,
)
from tests.support import fresh_database

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
THRESHOLD = 5  # the default lockout_threshold (the module's server has the default settings)
LOCKED = "locked after too many failed authentications"


def resident_vid(index: int) -> str:
    """A demo resident of its own for each test (the module's tests share one database)."""
    return demo_world.residents()[index]["vid"]


@pytest.fixture(scope="module")
def client_id(http):
    client_id = new_client_id()
    register(http, client_id, client_key(0))
    return client_id


@pytest.fixture(scope="module")
def partner(http):
    response = http.post("/admin/wallet-partners", json={"partnerId": "lockout-wallet"}, headers=ADMIN)
    return {"PARTNER-ID": "lockout-wallet", "PARTNER-API-KEY": response.json()["apiKey"]}


def bind_wallet(http, partner, vid: str, factor: str, challenge: str) -> dict:  # noqa: ANN001
    key = ECKey.generate_key("P-256", private=True)
    request = {
        "individualId": vid,
        "authFactorType": "WLA",
        "format": "jwt",
        "challengeList": [{"authFactorType": factor, "challenge": challenge, "format": "number"}],
        "publicKey": key.as_dict(private=False),
    }
    return http.post("/wallet-binding", headers=partner, json={"requestTime": NOW, "request": request}).json()


def registered_client(base_url: str) -> str:
    with httpx.Client(base_url=base_url, timeout=30) as http:
        client_id = new_client_id()
        register(http, client_id, client_key(0))
    return client_id


def lock(live, client_id: str, vid: str) -> None:  # noqa: ANN001
    for _ in range(THRESHOLD):
        assert not authenticated(page_attempt(live.url, client_id, vid, "PIN", "0000"))


def locked_until(live, vid: str) -> datetime | None:  # noqa: ANN001
    with live.app.state.db.session() as session:
        identity_id = session.scalar(select(Vid.identity_id).where(Vid.vid == vid))
        until = session.get(Identity, identity_id).locked_until
    return until.replace(tzinfo=UTC) if until is not None and until.tzinfo is None else until


def test_pin_guesses_in_new_logins_lock_the_identity(live, client_id):
    vid = resident_vid(4)
    for guess in ("0000", "1111", "2222", "3333", "4444"):  # one login per guess dodges the per-login limit
        answer = page_attempt(live.url, client_id, vid, "PIN", guess)
        assert answer.status_code == 400 and not authenticated(answer)
    assert LOCKED in answer.text  # the fifth failure says so
    right = page_attempt(live.url, client_id, vid, "PIN", PIN)
    assert not authenticated(right), "the right PIN must be refused while the identity is locked"
    assert right.status_code == 400 and LOCKED in right.text


def test_failures_count_across_factors_and_channels(live, http, client_id, partner):
    vid = resident_vid(5)
    assert not authenticated(page_attempt(live.url, client_id, vid, "OTP", "000000"))
    assert not authenticated(page_attempt(live.url, client_id, vid, "OTP", "999999"))
    assert not authenticated(page_attempt(live.url, client_id, vid, "PIN", "0000"))
    assert wallet_attempt(live.url, client_id, vid, "PIN", "0000")["errors"][0]["errorCode"] == "auth_failed"
    assert bind_wallet(http, partner, vid, "PIN", "0000")["errors"][0]["errorCode"] == "invalid_auth_challenge"
    # five failures, whatever the factor and channel: now even the sandbox OTP and the right PIN are refused
    by_otp = page_attempt(live.url, client_id, vid, "OTP", OTP)
    assert not authenticated(by_otp) and LOCKED in by_otp.text
    by_wallet = wallet_attempt(live.url, client_id, vid, "PIN", PIN)
    assert by_wallet["errors"][0]["errorCode"] == "auth_failed" and LOCKED in by_wallet["errors"][0]["errorMessage"]
    binding = bind_wallet(http, partner, vid, "PIN", PIN)
    assert binding["errors"][0]["errorCode"] == "invalid_auth_challenge" and "response" not in binding


def test_a_right_factor_resets_the_count_and_the_sandbox_otp_keeps_working(live, client_id):
    vid = resident_vid(6)
    for _ in range(2):
        for _ in range(THRESHOLD - 1):
            assert not authenticated(page_attempt(live.url, client_id, vid, "OTP", "000000"))
        assert authenticated(page_attempt(live.url, client_id, vid, "OTP", OTP))
    assert locked_until(live, vid) is None


def test_the_lockout_doubles_with_each_lockout_up_to_the_maximum(tmp_path):
    vid = resident_vid(7)
    short = {"lockout_base_seconds": 1, "lockout_max_seconds": 3}  # 1 s, then 2 s, then capped at 3 s (not 4)
    with fresh_database(tmp_path, "identity") as db, running_identity(db, tmp_path, **short) as live:
        client_id = registered_client(live.url)
        for expected in (1, 2, 3):
            for _ in range(THRESHOLD - 1):
                page_attempt(live.url, client_id, vid, "PIN", "0000")
            before = datetime.now(UTC)
            assert LOCKED in page_attempt(live.url, client_id, vid, "PIN", "0000").text
            after = datetime.now(UTC)
            until = locked_until(live, vid)
            assert before + timedelta(seconds=expected - 0.05) <= until <= after + timedelta(seconds=expected + 0.05)
            assert not authenticated(page_attempt(live.url, client_id, vid, "PIN", PIN))
            time.sleep(max((until - datetime.now(UTC)).total_seconds(), 0) + 0.1)
        assert authenticated(page_attempt(live.url, client_id, vid, "PIN", PIN))  # the lock ran out
        assert locked_until(live, vid) is None


def test_parallel_guesses_cannot_pass_the_threshold(live, client_id):
    vid = resident_vid(8)
    guesses = 12
    logins = []
    for _ in range(guesses):  # the pages are opened first, then every guess is sent at once
        browser = Browser(live.url)
        logins.append((browser, browser.open(authorize_url(client_id)).text))

    def guess(login: tuple) -> httpx.Response:
        browser, page = login
        return browser.authenticate(page, vid, "PIN", "0000")

    with ThreadPoolExecutor(guesses) as pool:
        answers = list(pool.map(guess, logins))
    checked = [a for a in answers if "PIN is not right" in a.text]
    refused_unchecked = [a for a in answers if LOCKED in a.text and "PIN is not right" not in a.text]
    assert len(checked) == THRESHOLD and len(refused_unchecked) == guesses - THRESHOLD


def test_the_operator_unlocks_an_identity_and_the_history_shows_it(live, http, client_id):
    vid = resident_vid(9)
    lock(live, client_id, vid)
    assert http.post(f"/admin/identities/{vid}/unlock").status_code == 401
    assert http.post(f"/admin/identities/{vid}/unlock", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert http.post("/admin/identities/2222222222/unlock", headers=ADMIN).status_code == 404
    unlocked = http.post(f"/admin/identities/{vid}/unlock", headers=ADMIN)
    assert unlocked.status_code == 200, unlocked.text
    assert unlocked.json()["unlocked"] is True and unlocked.json()["before"]["lockedUntil"]
    assert authenticated(page_attempt(live.url, client_id, vid, "PIN", PIN))
    history = http.get(f"/identities/{vid}/history", headers=ADMIN).json()["history"]
    assert [h["action"] for h in history][-2:] == ["locked", "unlocked"]
    assert history[-1]["actor"] == "admin"


def test_the_lockout_is_kept_in_the_database_across_restarts(tmp_path):
    vid = resident_vid(10)
    with fresh_database(tmp_path, "identity") as db:
        with running_identity(db, tmp_path) as first:
            client_id = registered_client(first.url)
            lock(first, client_id, vid)
        with running_identity(db, tmp_path) as second:  # another process would see the same
            refused = page_attempt(second.url, client_id, vid, "PIN", PIN)
            assert not authenticated(refused) and LOCKED in refused.text
