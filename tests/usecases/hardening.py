"""Checks both use cases share: the login bound to the browser that started it, CSRF tokens on forms and
cross-origin API calls, and the security headers."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx

from services.common import demo_world

HEADERS = {"x-frame-options": "DENY", "x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}


def _hidden(html: str, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]*)"', html).group(1)


def callback_url(base: str, vid: str) -> tuple[httpx.Client, str]:
    """Logs in at the Identity BB but stops before the use case's callback: (the browser, the callback URL)."""
    http = httpx.Client(base_url=base, timeout=20, follow_redirects=False)
    authorize = http.get(http.get("/login").headers["location"])
    identity = str(authorize.url).split("/authorize")[0]
    form = {
        "transaction_id": _hidden(authorize.text, "transaction_id"),
        "xsrf": _hidden(authorize.text, "xsrf"),
        "individual_id": vid,
    }
    http.post(identity + "/authorize/send-otp", data=form)
    authenticated = http.post(
        identity + "/authorize/authenticate", data=form | {"factor": "OTP", "challenge": demo_world.sandbox_otp()}
    )
    consented = http.post(
        identity + "/authorize/consent",
        data={
            "transaction_id": form["transaction_id"],
            "xsrf": form["xsrf"],
            "decision": "allow",
            "claims": re.findall(r'name="claims" value="([^"]+)"', authenticated.text),
        },
    )
    location = consented.headers["location"]
    assert "code=" in location, location
    return http, location


def assert_callback_refused_in_another_browser(base: str, vid: str, cookie: str) -> None:
    attacker, location = callback_url(base, vid)
    victim = httpx.Client(timeout=20, follow_redirects=False)
    refused = victim.get(location)
    assert refused.status_code == 400, refused.text
    assert "not started in this browser" in refused.json()["message"]
    assert cookie not in victim.cookies
    finished = attacker.get(location)  # the browser that started it still logs in, and forgets the binding
    assert finished.status_code == 303 and cookie in finished.cookies
    assert f"{cookie}_login=" in finished.headers["set-cookie"]
    assert f"{cookie}_login" not in attacker.cookies


def assert_login_cookie_is_bound_and_short_lived(base: str, cookie: str) -> None:
    started = httpx.get(base + "/login")
    set_cookie = started.headers["set-cookie"].lower()
    assert set_cookie.startswith(f"{cookie}_login=") and "httponly" in set_cookie and "samesite=lax" in set_cookie
    assert "max-age=600" in set_cookie
    state = re.search(r"[?&]state=([^&]+)", started.headers["location"]).group(1)
    assert started.cookies[f"{cookie}_login"] == state


def assert_security_headers(response: httpx.Response) -> None:
    for name, value in HEADERS.items():
        assert response.headers.get(name) == value, (response.request.url, name)
    policy = response.headers.get("content-security-policy", "")
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "script-src 'self';" in policy  # the pages' own live.js, nothing inline, nothing from elsewhere
    scripts = re.findall(r"<script[^>]*>", response.text) if "html" in response.headers.get("content-type", "") else []
    assert all(re.search(r'src="/static/[a-z]+\.js"', tag) for tag in scripts), scripts


def assert_forms_need_the_token(client: httpx.Client, page: str, action: str, data: dict) -> None:
    html = client.get(page).text
    forms = re.findall(r'<form[^>]*method="post"[^>]*>(<input[^>]*>)?', html)
    assert forms and all('name="csrf_token"' in (hidden or "") for hidden in forms), forms
    refused = client.post(action, data=data)
    assert refused.status_code == 403, refused.text
    wrong = client.post(action, data=data | {"csrf_token": "0" * 64})
    assert wrong.status_code == 403
    logout = client.post("/logout")
    assert logout.status_code == 403  # a forged logout is refused too
    assert client.get("/auth/csrf").status_code == 200  # still logged in


def assert_cross_origin_api_calls_need_the_token(client: httpx.Client, path: str, body: dict) -> None:
    base = str(client.base_url)
    other = f"http://127.0.0.1:{(urlsplit(base).port or 80) + 1}"
    for headers in ({"Origin": other}, {"Sec-Fetch-Site": "same-site"}, {"Sec-Fetch-Site": "cross-site"}):
        refused = client.post(path, json=body, headers=headers)
        assert refused.status_code == 403, (headers, refused.text)
        assert refused.json()["error"] == "forbidden"
    token = client.get("/auth/csrf").json()["csrfToken"]
    allowed = client.post(path, json=body, headers={"Origin": other, "X-CSRF-Token": token})
    assert allowed.status_code != 403, allowed.text
    assert_security_headers(allowed)


BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def assert_page_errors_reach_people_as_pages(client: httpx.Client, action: str, data: dict, api: str) -> None:
    """A refused form post (the CSRF guard raises an APIError) and an unknown page reach a browser as a page
    people can read; an API client gets the documented JSON for the same error, and an API path stays JSON
    for a browser too."""
    refused = client.post(action, data=data, headers=BROWSER)
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("text/html"), refused.text
    assert "You cannot do this" in refused.text and "reload the page" in refused.text
    assert client.post(action, data=data).json()["error"] == "forbidden"
    missing = client.get("/no-such-page", headers=BROWSER)
    assert missing.status_code == 404 and "Page not found" in missing.text
    unknown = client.get(api + "/no-such-thing", headers=BROWSER)
    assert unknown.status_code == 404 and unknown.headers["content-type"].startswith("application/json")


def assert_logout_at_identity_ends_our_session(base: str, vid: str, cookie: str) -> None:
    """Single sign-on's other half: the resident logs out at the Identity BB (not at the use case), and
    Identity's back-channel logout token ends the use case's session too."""
    http, location = callback_url(base, vid)
    assert http.get(location).status_code == 303 and cookie in http.cookies
    assert http.get("/auth/csrf").status_code == 200
    identity = http.get("/login").headers["location"].split("/authorize")[0]
    confirm = http.get(identity + "/oidc/logout")
    assert confirm.status_code == 200, confirm.text
    done = http.post(identity + "/oidc/logout", data={"token": _hidden(confirm.text, "token")})
    assert done.status_code == 200 and 'id="logged-out"' in done.text, done.text
    refused = http.get("/auth/csrf")
    assert refused.status_code == 401, refused.text
