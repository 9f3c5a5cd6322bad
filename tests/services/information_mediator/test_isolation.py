"""One member cannot take the mediator from the others (issue 16, finding 6: 510 slow uploads filled the
shared provider pool and other members' calls hung)."""

from __future__ import annotations

import threading
import time

import httpx

from .conftest import CLIENT, CLIENT_SECRET, OTHER, OTHER_SECRET, PROVIDER, running_stack


def _grant_other_the_echo_service(stack) -> None:
    item = {
        "memberClass": "GOV",
        "memberCode": "PROVIDER-ORG",
        "applicationId": "APP",
        "serviceId": "echo",
        "rights": [{"memberClass": "GOV", "memberCode": "CLIENT-ORG", "applicationId": "OTHER"}],
    }
    r = stack.admin("PATCH", "/api/v1/rights/allow", json=[item])
    assert r.status_code == 200, r.text
    time.sleep(0.5)  # the registry snapshot reloads


CLIENT_HEADERS = {"Information-Mediator-Client": CLIENT, "Information-Mediator-Client-Secret": CLIENT_SECRET}


def _slow_body(seconds: float):
    yield b'{"part": 1,'
    time.sleep(seconds)
    yield b'"part2": 2}'


def test_a_flood_of_slow_uploads_neither_fills_the_pool_nor_stalls_another_member(db_fields, tmp_path):
    with running_stack(
        db_fields, tmp_path, provider_connections=2, max_concurrent_per_client=3, client_slot_wait_seconds=0.5
    ) as stack:
        _grant_other_the_echo_service(stack)
        statuses: list[int] = []

        def upload() -> None:
            with httpx.Client(base_url=stack.im.url, timeout=30) as http:
                r = http.post(
                    f"/r1/{PROVIDER}/echo",
                    content=_slow_body(3),
                    headers={
                        "Information-Mediator-Client": CLIENT,
                        "Information-Mediator-Client-Secret": CLIENT_SECRET,
                    },
                )
                statuses.append(r.status_code)

        flood = [threading.Thread(target=upload) for _ in range(6)]
        for t in flood:
            t.start()
        time.sleep(1.0)  # every upload has started; none has finished its body
        started = time.monotonic()
        other = stack.call("GET", "echo", client=OTHER, secret=OTHER_SECRET)
        assert other.status_code == 200, other.text
        assert time.monotonic() - started < 1.0  # not queued behind the slow uploads
        for t in flood:
            t.join(30)
        assert sorted(statuses) == [200, 200, 200, 429, 429, 429]  # three slots for the client, the rest refused


def test_a_call_over_the_clients_concurrency_is_refused_in_the_im_error_model(db_fields, tmp_path):
    with running_stack(db_fields, tmp_path, max_concurrent_per_client=1, client_slot_wait_seconds=0.2) as stack:
        holder = threading.Thread(target=lambda: stack.call("POST", "echo", content=_slow_body(1.5)))
        holder.start()
        time.sleep(0.3)
        refused = stack.call("GET", "echo")
        holder.join(10)
        assert refused.status_code == 429 and refused.headers["X-Road-Error"] == "Client.TooManyRequests"
        assert refused.json()["type"] == "Client.TooManyRequests"
