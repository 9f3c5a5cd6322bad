"""The notification inbox (an OTP read from it logs in, with the fixed sandbox OTP off) and single sign-on
(a second client skips the login page, prompt and max_age, logout propagated by a back-channel logout token)."""

from __future__ import annotations

import re
import threading
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from authlib.jose import JsonWebKey, jwt
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc.jwk import KeySet

from tests.services.identity.conftest import running_identity
from tests.services.identity.helpers import (
    ADMIN_TOKEN,
    AMINA_VID,
    KOFI,
    VERIFIER,
    Browser,
    authorize_url,
    client_key,
    new_client_id,
    query_of,
    register,
)
from tests.support import fresh_database
from usecases.common.oidc import LoginFailed, logout_subject
from usecases.common.settings import UseCaseSettings

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class Receiver:
    """A relying party's back-channel logout endpoint: records the logout tokens POSTed to it."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        received = self.tokens

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
                received.extend(parse_qs(body).get("logout_token", []))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/backchannel-logout"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """Identity with the fixed sandbox OTP off: a random code goes to the inbox only."""
    tmp = tmp_path_factory.mktemp("identity-inbox")
    with fresh_database(tmp, "identity") as db, running_identity(db, tmp, sandbox_mode=False) as server:
        yield server


@pytest.fixture(scope="module")
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def clients(http, receiver):
    """Two relying parties; the second registered a back-channel logout URI."""
    first, second = new_client_id(), new_client_id()
    register(http, first, client_key(0))
    register(http, second, client_key(1), backchannelLogoutUri=receiver.url)
    return first, second


def inbox(http, individual_id: str) -> dict:  # noqa: ANN001
    answer = http.get("/admin/inbox", params={"individualId": individual_id}, headers=ADMIN)
    assert answer.status_code == 200, answer.text
    return answer.json()


def latest_otp(http, individual_id: str) -> str:  # noqa: ANN001
    message = next(m for m in inbox(http, individual_id)["messages"] if m["kind"] == "otp")
    return re.search(r"\b(\d{6})\b", message["body"]).group(1)


def log_in(browser: Browser, http, url: str, individual_id: str = KOFI["vid"]) -> str:  # noqa: ANN001
    """The OTP login with the code read from the inbox; returns the redirect to the client."""
    page = browser.open(url).text
    code_page = browser.send_otp(page, individual_id)
    assert code_page.status_code == 200, code_page.text
    consent = browser.authenticate(code_page.text, individual_id, "OTP", latest_otp(http, individual_id))
    assert "Share your data" in consent.text, consent.text
    done = browser.consent(consent.text)
    assert done.status_code == 303
    return done.headers["location"]


def test_an_otp_read_from_the_inbox_logs_in(live, http, clients):
    location = log_in(Browser(live.url), http, authorize_url(clients[0]))
    assert "code" in query_of(location)
    messages = inbox(http, KOFI["vid"])["messages"]
    otp = next(m for m in messages if m["kind"] == "otp")
    assert {otp["channel"] for otp in messages if otp["kind"] == "otp"} == {"sms", "email"}
    assert "111111" not in otp["body"]  # sandbox mode is off: a random code


def test_the_inbox_is_for_the_administrator_and_the_keyed_page_only(live, http, clients):
    assert http.get("/admin/inbox", params={"individualId": KOFI["vid"]}).status_code == 401
    page_url = inbox(http, KOFI["vid"])["inboxPage"]
    page = httpx.get(page_url)
    assert page.status_code == 200 and "Your code to log in" in page.text
    assert '<meta http-equiv="refresh"' in page.text
    forged = httpx.get(page_url.split("?")[0] + "?key=" + "0" * 32)
    assert forged.status_code == 404 and "Your code" not in forged.text
    assert httpx.get(page_url.split("?")[0]).status_code == 404


def test_a_second_client_skips_the_login_page_within_the_session(live, http, clients):
    first, second = clients
    browser = Browser(live.url)
    log_in(browser, http, authorize_url(first))
    assert "IDN-SESSION" in browser.http.cookies
    again = browser.open(authorize_url(second, state="s2"))
    assert again.status_code == 200 and "Share your data" in again.text  # no login page
    switch = re.search(r'id="signed-in-as">Logged in as <strong>([^<]+)</strong>.\s*<a href="([^"]+)"', again.text)
    assert switch.group(1) == KOFI["name"] and "prompt=login" in unescape(switch.group(2))
    done = browser.consent(again.text)
    assert "code" in query_of(done.headers["location"])
    notices = [m for m in inbox(http, KOFI["vid"])["messages"] if m["kind"] == "new_client_login"]
    assert notices and "for the first time" in notices[0]["body"]


def test_prompt_and_max_age(live, http, clients):
    first, _ = clients
    browser = Browser(live.url)
    assert query_of(browser.open(authorize_url(first, prompt="none")).headers["location"])["error"] == "login_required"
    log_in(browser, http, authorize_url(first))
    silent = browser.open(authorize_url(first, prompt="none", state="quiet"))
    assert silent.status_code == 303 and query_of(silent.headers["location"])["state"] == "quiet"
    assert "code" in query_of(silent.headers["location"])
    for forced in ({"prompt": "login"}, {"max_age": "0"}, {"login_hint": AMINA_VID}):
        page = browser.open(authorize_url(first, **forced))
        assert page.status_code == 200 and 'name="individual_id"' in page.text, forced
    assert "Share your data" in browser.open(authorize_url(first, max_age="3600")).text


def _exchange(live, client_id: str, location: str) -> dict:  # noqa: ANN001
    discovery = httpx.get(live.url + "/.well-known/openid-configuration").json()
    auth = PrivateKeyJWT(discovery["token_endpoint"])
    key = client_key(1).as_dict(private=True)
    client = OAuth2Client(client_id, client_secret=key, redirect_uri="https://rp.example/callback")
    client.register_client_auth_method(auth)
    client.token_endpoint_auth_method = auth
    return client.fetch_token(discovery["token_endpoint"], authorization_response=location, code_verifier=VERIFIER)


def test_logout_ends_the_session_and_tells_the_relying_party(live, http, clients, receiver):
    _, second = clients
    browser = Browser(live.url)
    token = _exchange(live, second, log_in(browser, http, authorize_url(second)))
    jwks = JsonWebKey.import_key_set(http.get("/.well-known/jwks.json").json())
    id_token = jwt.decode(token["id_token"], jwks)
    assert id_token["sid"]
    discovery = http.get("/.well-known/openid-configuration").json()
    assert discovery["end_session_endpoint"] == live.url + "/oidc/logout"
    assert discovery["backchannel_logout_supported"] is True

    confirm = browser.http.get("/oidc/logout")  # no id_token_hint: the resident confirms
    assert confirm.status_code == 200 and receiver.tokens == []
    token_field = re.search(r'name="token" value="([^"]+)"', confirm.text).group(1)
    assert browser.http.post("/oidc/logout", data={"token": "forged"}).status_code == 403
    done = browser.http.post("/oidc/logout", data={"token": token_field})
    assert done.status_code == 200 and "You are logged out" in done.text

    assert len(receiver.tokens) == 1
    logout = jwt.decode(receiver.tokens[0], jwks)
    logout.validate()
    assert logout.header["typ"] == "logout+jwt"
    assert logout["iss"] == live.url and logout["aud"] == second
    assert logout["sub"] == id_token["sub"] and logout["sid"] == id_token["sid"]
    assert "http://schemas.openid.net/event/backchannel-logout" in logout["events"] and "nonce" not in logout
    use_case = UseCaseSettings(identity_issuer=live.url, oidc_client_id=second)
    keys = KeySet.import_key_set(http.get("/.well-known/jwks.json").json())
    assert logout_subject(receiver.tokens[0], keys, use_case) == id_token["sub"]  # the use cases' receiver accepts it
    with pytest.raises(LoginFailed):
        logout_subject(token["id_token"], keys, use_case)  # an ID token is no logout token
    page = browser.open(authorize_url(second))  # the session is over: the login page again
    assert 'name="individual_id"' in page.text


def test_logout_with_an_id_token_hint_needs_no_confirmation(live, http, clients, receiver):
    _, second = clients
    browser = Browser(live.url)
    token = _exchange(live, second, log_in(browser, http, authorize_url(second)))
    before = len(receiver.tokens)
    answer = browser.http.get(
        "/oidc/logout",
        params={
            "id_token_hint": token["id_token"],
            "post_logout_redirect_uri": "https://rp.example/bye",
            "state": "st",
        },
    )
    assert answer.status_code == 303, answer.text[-800:]
    assert answer.headers["location"] == "https://rp.example/bye?state=st"
    assert len(receiver.tokens) == before + 1
    evil = browser.http.get(
        "/oidc/logout", params={"client_id": second, "post_logout_redirect_uri": "https://evil.example/"}
    )
    assert evil.status_code == 200  # not redirected to an unregistered origin


def test_the_session_cookie_is_httponly_and_lax(live, http, clients):
    browser = Browser(live.url)
    page = browser.open(authorize_url(clients[0])).text
    code_page = browser.send_otp(page, AMINA_VID).text
    consent = browser.authenticate(code_page, AMINA_VID, "OTP", latest_otp(http, AMINA_VID))
    cookie = next(c for c in consent.headers.get_list("set-cookie") if c.startswith("IDN-SESSION="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here; https sets it
