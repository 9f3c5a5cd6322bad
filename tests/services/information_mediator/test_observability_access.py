"""Trace, monitoring and metrics are private: they need the operator's or the viewer's credential, and they
show personal identifiers in paths and query strings only when the operator turns them on."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from services.information_mediator.messagelog.models import LogRecord
from tests.usecases.browser import ARGS
from usecases.common import trace
from usecases.common.settings import UseCaseSettings

from .conftest import ADMIN, CLIENT, CLIENT_SECRET, PROVIDER

READ_ENDPOINTS = ["/api/v1/trace", "/api/v1/monitoring", "/metrics", "/ui/trace"]
UIN = "1234567890"


def viewer_token(stack) -> str:  # noqa: ANN001
    """Generated on first start like the admin token, under <data_dir>/secrets."""
    return (stack.settings.data_dir / "secrets" / "im-viewer-token").read_text().strip()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def trace_rows(stack, **params) -> list[dict]:  # noqa: ANN001, ANN003
    r = stack.http.get("/api/v1/trace", params=params, headers=bearer(viewer_token(stack)))
    assert r.status_code == 200, r.text
    return r.json()["exchanges"]


@pytest.mark.parametrize("path", READ_ENDPOINTS)
def test_observability_needs_a_credential(stack, path):
    for headers in ({}, bearer("not-the-token")):
        r = stack.http.get(path, headers=headers)
        assert r.status_code == 401, (path, r.status_code)
        if path == "/ui/trace":
            assert "text/html" in r.headers["content-type"]
            assert "viewer token" in r.text and "sandbox up" in r.text
        else:
            assert r.json()["type"] == "Client.AuthenticationFailed"
            assert r.headers["X-Road-Error"] == "Client.AuthenticationFailed"


@pytest.mark.parametrize("path", READ_ENDPOINTS)
def test_the_viewer_and_the_operator_may_read(stack, path):
    for token in (viewer_token(stack), ADMIN):
        assert stack.http.get(path, headers=bearer(token)).status_code == 200, (path, token == ADMIN)


def test_the_trace_page_takes_the_viewer_token_from_its_url_and_remembers_it(stack):
    token = viewer_token(stack)
    page = stack.http.get("/ui/trace", params={"token": token, "messageId": "m-1"})
    assert page.status_code == 200 and "message trace" in page.text
    # The page's script passes the token on to the API calls it makes.
    assert f'const viewerToken = "{token}";' in page.text and "Bearer" in page.text
    assert page.headers["cache-control"] == "no-store"
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ui/trace" in cookie
    # The cookie alone opens the page again (the client kept it), with the token for the script; it goes to
    # the page only, never to the APIs nor to `/r1/...`.
    again = stack.http.get("/ui/trace")
    assert again.status_code == 200 and f'const viewerToken = "{token}";' in again.text
    assert stack.http.get("/api/v1/trace").status_code == 401
    stack.http.cookies.clear()
    assert stack.http.get("/ui/trace").status_code == 401
    # A wrong token in the URL opens nothing; the admin token is never accepted from a URL.
    assert stack.http.get("/ui/trace", params={"token": "wrong"}).status_code == 401
    assert stack.http.get("/ui/trace", params={"token": ADMIN}).status_code == 401
    assert "set-cookie" not in stack.http.get("/ui/trace", params={"token": "wrong"}).headers


def test_the_viewer_token_is_refused_on_the_configuration_api(stack):
    viewer = bearer(viewer_token(stack))
    assert stack.http.get("/api/v1/config", headers=viewer).status_code in (401, 403)
    assert stack.http.get("/api/v1/audit", headers=viewer).status_code in (401, 403)
    allow = {
        "memberClass": "GOV",
        "memberCode": "PROVIDER-ORG",
        "applicationId": "APP",
        "serviceId": "private",
        "rights": [{"memberClass": "GOV", "memberCode": "CLIENT-ORG", "applicationId": "CLIENT"}],
    }
    assert stack.http.patch("/api/v1/rights/allow", headers=viewer, json=[allow]).status_code in (401, 403)
    assert stack.call("GET", "private").status_code == 403  # nothing changed


def traced_path(stack, path: str) -> tuple[str, str]:  # noqa: ANN001
    """A call with this path, then (the message id, the path as the trace API shows it)."""
    mid = stack.call("GET", "echo", path).headers["X-Road-Id"]
    stack.flush_log()
    (row,) = trace_rows(stack, messageId=mid)
    return mid, row["path"]


def test_identifiers_in_paths_and_queries_are_redacted_by_default(stack):
    path = f"/people/{UIN}/mail/jane.doe%40example.org/records?individualId={UIN}&lang=en&flag"
    mid, shown = traced_path(stack, path)
    assert shown == "/people/***/mail/***/records?individualId=***&lang=***&flag"
    r = stack.http.get("/api/v1/trace", headers=bearer(viewer_token(stack)))
    assert UIN not in r.text and "example.org" not in r.text
    # The message log itself keeps the exact path (it is hash-chained and signed).
    with stack.app.state.db.session() as session:
        assert session.scalars(select(LogRecord.path).where(LogRecord.message_id == mid)).one() == path


def test_record_ids_are_not_taken_for_identifiers(stack):
    record = "7b1e4c2a-9f3d-4e55-8a21-123456789012"  # a UUID with a long run of digits
    assert traced_path(stack, f"/consents/{record}/agreements/2")[1] == f"/consents/{record}/agreements/2"


def test_the_operator_may_turn_identifiers_on(stack):
    stack.runtime.settings.trace_identifiers = True
    path = f"/people/{UIN}?individualId={UIN}"
    assert traced_path(stack, path)[1] == path


def test_a_refused_call_counts_as_unauthenticated_not_as_the_claimed_client(stack):
    """Needs the proxy to record the client only after authentication (proxy/forward.py)."""
    assert stack.call("GET", "echo", secret="wrong-secret").status_code == 401
    for n in range(5):  # nor does a made-up client or service name become a metrics label
        stack.http.get(f"/r1/SANDBOX/GOV/NOBODY/APP/svc-{n}", headers={"Information-Mediator-Client": f"x-{n}"})
    stack.flush_log()
    viewer = bearer(viewer_token(stack))
    stats = stack.http.get("/api/v1/monitoring", params={"service": f"{PROVIDER}/echo"}, headers=viewer)
    by_client = {s["client"]: s for s in stats.json()["statistics"]}
    assert set(by_client) == {"(unauthenticated)"} and by_client["(unauthenticated)"]["failures"] == 1
    only_unauthenticated = stack.http.get("/api/v1/monitoring", params={"client": "(unauthenticated)"}, headers=viewer)
    assert {s["client"] for s in only_unauthenticated.json()["statistics"]} == {"(unauthenticated)"}
    metrics = stack.http.get("/metrics", headers=viewer).text
    assert 'client="(unauthenticated)"' in metrics
    assert f'client="{CLIENT}"' not in metrics
    assert "svc-" not in metrics and 'client="x-' not in metrics


def test_calls_to_made_up_services_do_not_grow_the_metrics(stack):
    """A made-up service name would otherwise add a time series per name, without bound."""
    credentials = {"Information-Mediator-Client": CLIENT, "Information-Mediator-Client-Secret": CLIENT_SECRET}
    for n in range(20):
        r = stack.http.get(f"/r1/{PROVIDER}/made-up-{n}", headers=credentials)
        assert r.status_code == 404
    metrics = stack.http.get("/metrics", headers=bearer(ADMIN)).text
    assert "made-up-" not in metrics


def test_the_use_cases_read_the_trace_and_link_to_it_with_the_viewer_token(stack):
    """What the use cases' "behind the scenes" panel does (usecases/common/trace.py)."""
    mid, _ = traced_path(stack, f"/people/{UIN}")
    settings = UseCaseSettings(im_url=stack.im.url, im_viewer_token=viewer_token(stack))
    rows = trace.exchanges(settings, mid, delay=0)
    assert [r["path"] for r in rows] == ["/people/***"]
    link = trace.trace_link(settings, mid)
    assert stack.http.get(link).status_code == 200
    stack.http.cookies.clear()
    without = UseCaseSettings(im_url=stack.im.url)
    assert trace.exchanges(without, mid, delay=0) == []
    assert stack.http.get(trace.trace_link(without, mid)).status_code == 401


REDACTED_ROW = 'td.mono:has-text("GET /people/***?individualId=***")'


@pytest.mark.browser
def test_the_trace_page_in_a_browser_reads_with_the_token_from_its_link(stack):
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian's chromium is not installed")
    mid, _ = traced_path(stack, f"/people/{UIN}?individualId={UIN}")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{stack.im.url}/ui/trace?messageId={mid}&token={viewer_token(stack)}")
            page.wait_for_selector(REDACTED_ROW)
            assert "token=" not in page.url and f"messageId={mid}" in page.url  # the token leaves the address bar
            page.reload()  # the cookie opens the page again, and the script reads with the token
            page.wait_for_selector(REDACTED_ROW)
            assert UIN not in page.content()
        finally:
            browser.close()
