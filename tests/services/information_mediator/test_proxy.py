"""The /r1 service access flow through a real IM in front of a real provider."""

from __future__ import annotations

import hashlib
import logging
import os

from sqlalchemy import select

from services.common.logs import AccessLogMiddleware
from services.information_mediator.messagelog.models import LogRecord

from .conftest import CLIENT, CLIENT_SECRET, OTHER, OTHER_SECRET, PROVIDER, running_stack


def test_allowed_call_reaches_the_provider_with_xroad_headers(stack):
    body = b'{"hello": "world"}'
    r = stack.call("POST", "echo", "/things", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 200
    seen = r.json()
    assert seen["method"] == "POST" and seen["raw_path"] == "/echo/things"
    assert seen["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert r.headers["X-Road-Client"] == CLIENT
    assert r.headers["X-Road-Service"] == f"{PROVIDER}/echo"
    assert r.headers["X-Road-Request-Hash"] == hashlib.sha256(body).hexdigest()
    assert len(r.headers["X-Road-Id"]) >= 32
    assert r.headers["X-Provider"] == "yes"  # provider headers pass back unchanged


def test_the_im_assigns_message_ids_and_keeps_the_clients_as_correlation(stack):
    r = stack.call("GET", "echo", headers={"X-Road-Id": "my-message-42"})
    assert r.status_code == 200, r.text
    assigned = r.headers["X-Road-Id"]
    assert assigned != "my-message-42" and r.headers["X-Road-Correlation-Id"] == "my-message-42"
    seen = r.json()["headers"]
    assert seen["x-road-id"] == assigned and seen["x-road-correlation-id"] == "my-message-42"
    again = stack.call("GET", "echo", headers={"X-Road-Id": "my-message-42"})
    assert again.headers["X-Road-Id"] not in (assigned, "my-message-42")  # a client cannot reuse an id


def test_a_malformed_or_overlong_client_message_id_is_refused(stack):
    for bad in ("x" * 200, "a b", "a/b"):
        r = stack.call("GET", "echo", headers={"X-Road-Id": bad})
        assert r.status_code == 400 and r.headers["X-Road-Error"] == "Client.BadRequest"


def test_provider_sees_the_authenticated_client_and_a_valid_assertion(stack):
    seen = stack.call("GET", "echo").json()
    assert seen["headers"]["information-mediator-client"] == CLIENT
    assert seen["headers"]["x-road-client"] == CLIENT
    assert seen["verified_client"] == CLIENT
    assert "information-mediator-client-secret" not in seen["headers"]  # the credential never reaches providers


def test_spoofed_client_header_without_credential_is_refused(stack):
    r = stack.call("GET", "echo", secret=None)
    assert r.status_code == 401
    assert r.headers["X-Road-Error"] == "Client.AuthenticationFailed"
    body = r.json()
    assert body["type"] == "Client.AuthenticationFailed" and body["detail"] == r.headers["X-Road-Id"]
    assert stack.call("GET", "echo", secret="guessed").status_code == 401
    # Another application's secret does not prove this application's identity.
    assert stack.call("GET", "echo", secret=OTHER_SECRET).status_code == 401


def test_forged_assertion_from_the_client_is_replaced(stack):
    seen = stack.call("GET", "echo", headers={"Information-Mediator-Assertion": "forged.token.value"}).json()
    assert seen["verified_client"] == CLIENT


def test_missing_and_malformed_client_identifiers(stack):
    r = stack.http.get(f"/r1/{PROVIDER}/echo")
    assert r.status_code == 400 and r.headers["X-Road-Error"] == "Client.BadRequest"
    r = stack.call("GET", "echo", client="SANDBOX/GOV/ONLY-THREE")
    assert r.status_code == 400 and r.json()["type"] == "Client.InvalidClientIdentifier"
    r = stack.call("GET", "echo", client="OTHER-INSTANCE/GOV/CLIENT-ORG/CLIENT")
    assert r.status_code == 400 and r.json()["type"] == "Client.InvalidClientIdentifier"


def test_call_without_access_right_is_refused(stack):
    r = stack.call("GET", "echo", client=OTHER, secret=OTHER_SECRET)
    assert r.status_code == 403 and r.headers["X-Road-Error"] == "Client.AccessDenied"
    r = stack.call("GET", "private")
    assert r.status_code == 403 and r.json()["type"] == "Client.AccessDenied"


def test_unknown_and_disabled_services(stack):
    r = stack.call("GET", "nosuchservice")
    assert r.status_code == 404 and r.json()["type"] == "Server.UnknownService"
    r = stack.http.get(
        "/r1/SANDBOX/GOV/NOBODY/APP/echo",
        headers={"Information-Mediator-Client": CLIENT, "Information-Mediator-Client-Secret": CLIENT_SECRET},
    )
    assert r.status_code == 404
    r = stack.call("GET", "disabled")
    assert r.status_code == 403 and r.headers["X-Road-Error"] == "Server.ServiceDisabled"


def test_provider_down(stack):
    r = stack.call("GET", "down", "/anything")
    assert r.status_code == 502 and r.headers["X-Road-Error"] == "Server.ServerProxy.NetworkError"
    assert r.json()["detail"] == r.headers["X-Road-Id"]


def test_provider_too_slow(stack):
    _add_root_service(stack)
    r = stack.call("GET", "root", "/slow?seconds=6")  # beyond the stack's 2.5 s provider timeout
    assert r.status_code == 504 and r.headers["X-Road-Error"] == "Server.ServerProxy.Timeout"


def _add_root_service(stack) -> None:
    r = stack.admin(
        "PATCH",
        "/api/v1/config",
        json={
            "domain": "test.localhost",
            "instance": "SANDBOX",
            "members": [
                {
                    "name": "Provider Org",
                    "class": "GOV",
                    "code": "PROVIDER-ORG",
                    "applications": [
                        {
                            "id": "APP",
                            "services": [
                                {
                                    "id": "root",
                                    "serviceUrl": stack.provider.url,
                                    "specUrl": f"{stack.provider.url}/openapi.json",
                                    "rights": [{"member": "CLIENT-ORG", "application": "CLIENT"}],
                                }
                            ],
                        }
                    ],
                }
            ],
        },
    )
    assert r.status_code == 201, r.text


def test_provider_errors_pass_through_unchanged(stack):
    _add_root_service(stack)
    r = stack.call("GET", "root", "/status/418")
    assert r.status_code == 418 and r.json() == {"provider": "error"}
    assert "X-Road-Error" not in r.headers


def test_query_string_and_encoded_path_segments_pass_through(stack):
    r = stack.call("GET", "echo", "/items/a%2Fb%20c/%C3%A9?x=1&y=%26z&x=2")
    seen = r.json()
    assert seen["raw_path"] == "/echo/items/a%2Fb%20c/%C3%A9"
    assert seen["query"] == "x=1&y=%26z&x=2"


def test_large_bodies_both_ways_within_the_services_limit(stack):
    _add_root_service(stack)
    size = 12 * 1024 * 1024
    block = os.urandom(1024 * 1024)

    def chunks():
        for _ in range(size // len(block)):
            yield block

    expected = hashlib.sha256()
    for c in chunks():
        expected.update(c)
    r = stack.call("POST", "root", "/upload", content=chunks())
    assert r.status_code == 200
    assert r.json()["size"] == size and r.json()["sha256"] == expected.hexdigest()
    assert r.headers["X-Road-Request-Hash"] == expected.hexdigest()
    down = stack.call("GET", "root", "/download?size=8000000")
    assert down.status_code == 200 and len(down.content) == 8_000_000


def test_a_body_over_the_limit_is_refused_before_reaching_the_provider(stack):
    _add_root_service(stack)
    r = stack.call("POST", "root", "/upload", content=b"x" * (16 * 1024 * 1024 + 1))
    assert r.status_code == 413 and r.headers["X-Road-Error"] == "Client.RequestTooLarge"


def test_hop_by_hop_headers_are_not_forwarded(stack):
    seen = stack.call(
        "GET",
        "echo",
        headers={"Connection": "keep-alive, X-Secret-Hop", "Proxy-Authorization": "x", "X-Custom": "kept"},
    ).json()["headers"]
    assert "proxy-authorization" not in seen
    assert seen["x-custom"] == "kept"


def test_every_exchange_is_logged_and_monitored(stack):
    stack.call("GET", "echo")
    stack.call("GET", "echo", client=OTHER, secret=OTHER_SECRET)
    stack.flush_log()
    rows = stack.admin("GET", "/api/v1/trace", params={"service": "PROVIDER-ORG"}).json()["exchanges"]
    assert {(x["client"], x["status"]) for x in rows} >= {(CLIENT, 200), (OTHER, 403)}
    denied = next(x for x in rows if x["status"] == 403)
    assert denied["errorType"] == "Client.AccessDenied"
    stats = stack.admin("GET", "/api/v1/monitoring", params={"service": f"{PROVIDER}/echo"}).json()["statistics"]
    by_client = {s["client"]: s for s in stats}
    assert by_client[CLIENT]["successes"] >= 1 and by_client[OTHER]["failures"] >= 1
    metrics = stack.admin("GET", "/metrics").text
    assert 'im_requests_total{client="SANDBOX/GOV/CLIENT-ORG/CLIENT"' in metrics
    assert "im_request_duration_seconds_bucket" in metrics


def test_trace_page_renders(stack):
    r = stack.admin("GET", "/ui/trace")
    assert r.status_code == 200 and "message trace" in r.text


def test_a_connection_the_provider_closed_while_idle_is_not_an_error(stack):
    """Providers close idle keep-alive connections; the IM must not answer 502 for the next call."""
    import time

    assert stack.call("GET", "echo").status_code == 200
    time.sleep(5.5)  # past uvicorn's keep-alive timeout: the pooled connection is gone on the provider side
    for _ in range(3):
        r = stack.call("GET", "echo")
        assert r.status_code == 200, r.text


def test_times_in_the_trace_monitoring_and_audit_carry_their_utc_offset(stack):
    """On SQLite they came back without an offset (ARCHITECTURE §5: times are UTC, ISO 8601)."""
    from datetime import datetime

    stack.call("GET", "echo")
    stack.flush_log()
    row = stack.admin("GET", "/api/v1/trace").json()["exchanges"][0]
    assert datetime.fromisoformat(row["requestAt"]).utcoffset().total_seconds() == 0
    stats = stack.admin("GET", "/api/v1/monitoring").json()["statistics"]
    last = [s for s in stats if s.get("lastRequestAt")]
    assert last and all(datetime.fromisoformat(s["lastRequestAt"]).utcoffset() is not None for s in last)
    entry = stack.admin("GET", "/api/v1/audit").json()["entries"][0]
    assert datetime.fromisoformat(entry["at"]).utcoffset() is not None


def test_an_answer_whose_exchange_cannot_be_logged_is_not_delivered(stack, monkeypatch):
    """Durable before delivered: the provider's answer, held until its log record is committed, is replaced by
    an error when the message log cannot store it."""
    from services.information_mediator.messagelog.writer import StoreError

    async def refuse(record: dict) -> None:
        raise StoreError("the database is gone")

    monkeypatch.setattr(stack.app.state.im_runtime.writer, "store", refuse)
    r = stack.call("GET", "echo")
    assert r.status_code == 503 and "verified_client" not in r.text
    assert r.headers["x-road-error"] == "Server.ServerProxy.MessageLogFailure" and r.json()["detail"]


def test_an_answer_whose_exchange_is_not_logged_in_time_is_not_delivered(db_fields, tmp_path):
    """`log_store_timeout`: while the database keeps the log waiting (here another writer holds the log's table),
    the exchange is answered 503 MessageLogFailure in the IM's error shape (it was a bare 500)."""
    with running_stack(db_fields, tmp_path, log_store_timeout=0.5) as stack:
        assert stack.call("GET", "echo").status_code == 200
        with stack.app.state.db.engine.connect() as blocker:
            if stack.app.state.db.is_sqlite:
                blocker.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                blocker.exec_driver_sql("LOCK TABLE im_message_log IN EXCLUSIVE MODE")
            r = stack.call("GET", "echo")
            blocker.rollback()
        assert r.status_code == 503 and "verified_client" not in r.text
        assert r.headers["x-road-error"] == "Server.ServerProxy.MessageLogFailure" and r.json()["detail"]


def test_mediated_exchanges_are_in_the_message_log_and_not_the_access_log(db_fields, tmp_path):
    """The access line cost the IM a twelfth of its CPU per exchange and said less than the log record."""
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    logging.getLogger("access").addHandler(handler)
    try:
        with running_stack(db_fields, tmp_path, wrap=AccessLogMiddleware) as stack:
            assert stack.call("GET", "echo").status_code == 200
            assert stack.call("GET", "echo", secret="wrong").status_code == 401
            assert stack.admin("GET", "/api/v1/status").status_code == 200
            stack.flush_log()
            with stack.runtime.db.session() as session:
                logged = session.scalars(select(LogRecord.status)).all()
    finally:
        logging.getLogger("access").removeHandler(handler)
    assert sorted(logged) == [200, 401], logged
    assert not [line for line in lines if "/r1/" in line], lines
    assert any(line.startswith("GET /api/v1/status 200") for line in lines), lines
