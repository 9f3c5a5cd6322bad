"""The login pages as a resident reads them (issue 25): the provider's header and the relying party, the VID and a
masked phone on the code page, "change VID", the resend interval, errors in words, the sandbox hint, link codes."""

from __future__ import annotations

import re
import time
from html import unescape

import httpx
import pytest

from services.common import demo_world
from services.identity.oidc import login_view
from services.identity.settings import IdentitySettings
from tests.services.identity.conftest import running_identity
from tests.services.identity.helpers import (
    KOFI,
    NOW,
    OTP,
    Browser,
    authenticated,
    authorize_url,
    client_key,
    hidden,
    new_client_id,
    query_of,
    register,
)
from tests.support import fresh_database

RESEND_SECONDS = 2
AMINA = demo_world.residents()[1]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("identity-pages")
    with (
        fresh_database(tmp, "identity") as db,
        running_identity(db, tmp, otp_resend_seconds=RESEND_SECONDS) as server,
    ):
        yield server


@pytest.fixture(scope="module")
def client_id(http):
    client_id = new_client_id()
    register(http, client_id, client_key(0), clientName="Cash Transfer Programme")
    return client_id


def code_page(live, client_id: str, individual_id: str = KOFI["vid"]) -> tuple[Browser, httpx.Response]:  # noqa: ANN001
    browser = Browser(live.url)
    start = browser.open(authorize_url(client_id, state="st-1"))
    return browser, browser.send_otp(start.text, individual_id)


def text(response: httpx.Response) -> str:
    """The page's words, tags dropped."""
    return unescape(re.sub(r"<[^>]+>", "", response.text))


def test_the_login_page_is_the_identity_providers_and_names_the_relying_party(live, client_id):
    page = Browser(live.url).open(authorize_url(client_id))
    assert page.status_code == 200
    assert 'id="provider">National Identity Authority<' in page.text
    assert "Cash Transfer Programme wants to know who you are." in " ".join(text(page).split())
    assert re.search(r"<h1>Log in with your national ID</h1>", page.text)


def test_login_hint_prefills_the_id_fields(live, client_id):
    page = Browser(live.url).open(authorize_url(client_id, login_hint=KOFI["vid"])).text
    assert re.search(rf'id="individual_id"[^>]*value="{KOFI["vid"]}"', page)
    assert re.search(rf'id="pin_id"[^>]*value="{KOFI["vid"]}"', page)
    odd = Browser(live.url).open(authorize_url(client_id, login_hint='"><script>x</script>')).text
    assert re.search(r'id="individual_id"[^>]*value=""', odd) and "<script>x" not in odd


def test_the_code_page_shows_the_vid_and_a_masked_phone(live, client_id):
    _, sent = code_page(live, client_id)
    assert sent.status_code == 200
    words = " ".join(text(sent).split())
    assert "We sent a code to +999 \u2022\u2022\u2022 \u2022\u202264 for UIN or VID 9038952310." in words
    assert "76609" not in sent.text and "9064" not in sent.text  # only the last two digits


def test_change_vid_goes_back_to_the_first_page_of_the_same_login(live, client_id):
    browser, sent = code_page(live, client_id)
    link = unescape(re.search(r'id="change-id" href="([^"]+)"', sent.text).group(1))
    again = browser.http.get(link)
    assert again.status_code == 200 and 'id="individual_id"' in again.text
    assert hidden(again.text, "transaction_id") == hidden(sent.text, "transaction_id")
    other = browser.send_otp(again.text, AMINA["vid"])  # another resident: no wait
    assert other.status_code == 200 and "\u2022\u202250" in other.text
    assert authenticated(browser.authenticate(other.text, AMINA["vid"], "OTP", OTP))
    stranger = httpx.get(link)  # without the login's XSRF cookie
    assert stranger.status_code == 403


def test_the_change_vid_link_with_odd_input_is_refused_cleanly(http):
    for params in ({}, {"transaction_id": ["a", "b"]}, {"transaction_id": "x" * 5000}):
        answer = http.get("/authorize/login", params=params)
        assert answer.status_code == 400 and "Login cannot continue" in answer.text


def test_a_new_code_is_refused_until_the_resend_interval_has_passed(live, client_id):
    browser, sent = code_page(live, client_id)
    assert re.search(r'id="resend" data-wait="[12]" disabled', sent.text)
    too_soon = browser.send_otp(sent.text, KOFI["vid"])
    assert too_soon.status_code == 400
    assert "A new code can be sent in" in too_soon.text and 'id="otp_value"' in too_soon.text
    time.sleep(RESEND_SECONDS + 0.2)
    resent = browser.send_otp(sent.text, KOFI["vid"])
    assert resent.status_code == 200 and 'id="otp_value"' in resent.text
    assert authenticated(browser.authenticate(resent.text, KOFI["vid"], "OTP", OTP))


def test_an_empty_code_does_not_use_up_an_attempt(live, client_id):
    browser, sent = code_page(live, client_id)
    for empty in ("", "   "):
        refused = browser.authenticate(sent.text, KOFI["vid"], "OTP", empty)
        assert refused.status_code == 400 and "Enter the code we sent." in refused.text
    wrong = browser.authenticate(sent.text, KOFI["vid"], "OTP", "000000")
    assert "That code is not right. You have 2 attempts left." in wrong.text
    assert authenticated(browser.authenticate(sent.text, KOFI["vid"], "OTP", "111 111"))  # spaces are ignored


def test_a_wrong_or_empty_pin_keeps_the_vid_and_says_what_is_wrong(live, client_id):
    browser = Browser(live.url)
    start = browser.open(authorize_url(client_id)).text
    empty = browser.authenticate(start, AMINA["vid"], "PIN", "")
    assert empty.status_code == 400 and "Enter your PIN." in empty.text
    wrong = browser.authenticate(start, AMINA["vid"], "PIN", "9999")
    assert "That PIN is not right. You have 2 attempts left." in wrong.text
    assert re.search(rf'id="pin_id"[^>]*value="{AMINA["vid"]}"', wrong.text)


def test_three_wrong_codes_are_explained_in_words(live, client_id):
    browser, sent = code_page(live, client_id)
    answers = [browser.authenticate(sent.text, KOFI["vid"], "OTP", "000000") for _ in range(3)]
    assert [a.status_code for a in answers] == [400, 400, 403]
    assert "You have 1 attempt left." in answers[1].text
    stopped = answers[-1]
    assert "access_denied" not in text(stopped)
    assert "wrong 3 times, so for your security this login has been stopped" in stopped.text
    back = unescape(re.search(r'id="back" href="([^"]+)"', stopped.text).group(1))
    assert back.startswith("https://rp.example/callback?")
    assert query_of(back)["error"] == "access_denied" and query_of(back)["state"] == "st-1"
    assert browser.authenticate(sent.text, KOFI["vid"], "OTP", OTP).status_code == 400  # the login is over


def test_an_unknown_vid_is_explained_and_kept_in_the_field(live, client_id):
    browser = Browser(live.url)
    start = browser.open(authorize_url(client_id))
    refused = browser.send_otp(start.text, "1234567890")
    assert refused.status_code == 400
    assert "We do not know this UIN or VID. Check the number and try again." in refused.text
    assert re.search(r'id="individual_id"[^>]*value="1234567890"', refused.text)


def test_the_sandbox_hint_lists_the_demo_logins_and_the_otp(live, client_id):
    page = Browser(live.url).open(authorize_url(client_id)).text
    hint = page[page.index('id="sandbox-hint"') :]
    assert 'id="sandbox-otp">111111<' in hint
    for resident in demo_world.residents():
        assert f'data-vid="{resident["vid"]}"' in hint
    assert "Enrollment officer" in hint and "enrollment_officer" not in hint


def test_no_sandbox_hint_outside_sandbox_mode(tmp_path):
    settings = IdentitySettings(data_dir=tmp_path, sandbox_mode=False)
    assert login_view.demo_logins(settings) is None
    assert login_view.demo_logins(IdentitySettings(data_dir=tmp_path, seed=False)) is None
    assert len(login_view.demo_logins(IdentitySettings(data_dir=tmp_path))) == len(demo_world.residents())


@pytest.mark.parametrize(
    ("phone", "masked"),
    [("+999 76609 9064", "+999 ••• ••64"), ("0712345678", "••• ••78"), ("12", None), (None, None)],
)
def test_phone_masking(phone, masked):
    assert login_view.mask_phone(phone) == masked


def test_link_codes_avoid_look_alike_characters_and_are_accepted_in_either_case(live, client_id):
    seen = set()
    for _ in range(3):
        browser = Browser(live.url)
        page = browser.open(authorize_url(client_id)).text
        transaction_id = re.search(r"const tx = \"([^\"]+)\"", page).group(1)
        linked = browser.http.post(
            "/linked-authorization/link-code",
            json={"requestTime": NOW, "request": {"transactionId": transaction_id}},
            headers={"X-XSRF-TOKEN": browser.http.cookies["XSRF-TOKEN"]},
        ).json()
        code = linked["response"]["linkCode"]
        seen.update(code)
    assert not seen & set("O0I1lo") and seen <= set("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
    typed = f"  {code.lower()} "
    details = httpx.post(
        live.url + "/linked-authorization/link-transaction", json={"requestTime": NOW, "request": {"linkCode": typed}}
    ).json()
    assert details["response"]["linkTransactionId"], details
