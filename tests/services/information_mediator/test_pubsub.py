"""Publish/subscribe through the IM: event types, rights, PUSH with retries, restarts, FIFO, TTL, PULL; group
commits of concurrent publications and deliveries leased at publication, never claimed by another node."""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from joserfc.jwk import KeySet
from sqlalchemy import func, select

from services.common.assertion import AssertionVerifier, Exchange
from services.information_mediator.messagelog.models import LogRecord
from services.information_mediator.messagelog.writer import StoreError
from services.information_mediator.pubsub import service
from services.information_mediator.pubsub.models import Delivery, Event
from services.information_mediator.pubsub.service import Publication, Published
from services.information_mediator.pubsub.worker import destination
from tests.support import TEST_DATABASE_URL

from .test_pubsub_support import PUB, ROOM, STRANGER, SUB, SUB2, PubSubStack, Receiver, wait_for


@pytest.fixture
def receivers():
    rs = [Receiver().start(), Receiver().start()]
    yield rs
    for r in rs:
        r.stop()


@pytest.fixture
def ps(db_fields, tmp_path, receivers):
    s = PubSubStack(db_fields, tmp_path, receivers).start()
    s.configure()
    s.event_type()
    yield s
    s.stop()


def _count_events(ps: PubSubStack) -> int:
    with ps.app.state.db.session() as session:
        return session.scalar(select(func.count()).select_from(Event))


def test_event_types_are_administered_by_the_room_owner(ps):
    assert ps.as_(ROOM, "GET", "/api/v1/eventType").json() == ["newBirth"]
    detail = ps.as_(PUB, "GET", "/api/v1/eventType/newBirth")
    assert detail.status_code == 200 and detail.json()["schema"]["required"] == ["n", "mother"]
    assert ps.as_(PUB, "GET", "/api/v1/eventType/unknown").status_code == 204
    refused = ps.as_(PUB, "POST", "/api/v1/eventType", json={"eventType": "x", "schema": {"type": "object"}})
    assert refused.status_code == 403 and refused.headers["X-Road-Error"] == "Client.AccessDenied"
    dup = ps.as_(ROOM, "POST", "/api/v1/eventType", json={"eventType": "newBirth", "schema": {"type": "object"}})
    assert dup.status_code == 409
    bad = ps.as_(ROOM, "POST", "/api/v1/eventType", json={"eventType": "bad", "schema": {"type": "no-such-type"}})
    assert bad.status_code == 400 and "JSON Schema" in bad.json()["message"]
    assert ps.as_(ROOM, "DELETE", "/api/v1/eventType/newBirth").status_code == 204
    assert ps.as_(ROOM, "DELETE", "/api/v1/eventType/newBirth").status_code == 404
    assert ps.as_(ROOM, "GET", "/api/v1/eventType").status_code == 204


def test_schema_invalid_event_is_refused_and_nothing_stored(ps):
    r = ps.as_(PUB, "POST", "/pub/v1/newBirth", json={"eventType": "newBirth", "event": {"n": "one", "gender": "X"}})
    assert r.status_code == 400
    assert r.headers["X-Road-Error"] == "Client.BadRequest"
    message = r.json()["message"]
    assert "mother" in message and "gender" in message and "n:" in message
    assert ps.as_(PUB, "POST", "/pub/v1/newBirth", json={"eventType": "newBirth"}).status_code == 400
    assert ps.as_(PUB, "POST", "/pub/v1/unknown", json={"event": {}}).status_code in (403, 404)
    assert _count_events(ps) == 0


def test_publish_and_subscribe_need_rights_and_credentials(ps):
    denied = ps.as_(STRANGER, "POST", "/pub/v1/newBirth", json={"event": {"n": 1, "mother": "M"}})
    assert denied.status_code == 403 and denied.json()["type"] == "Client.AccessDenied"
    forged = ps.http.post(
        f"/r1/{ROOM}/pub/v1/newBirth",
        json={"event": {"n": 1, "mother": "M"}},
        headers={"Information-Mediator-Client": PUB, "Information-Mediator-Client-Secret": "wrong"},
    )
    assert forged.status_code == 401
    assert _count_events(ps) == 0
    sub_denied = ps.as_(STRANGER, "POST", "/api/v1/subs/newBirth", json={"delivery": "PULL"})
    assert sub_denied.status_code == 403
    # A PUSH target must be a service of the subscriber that lets the room call it.
    no_target = ps.as_(SUB, "POST", "/api/v1/subs/newBirth", json={"delivery": "PUSH", "serviceCode": "nope"})
    assert no_target.status_code == 400 and "not a registered service" in no_target.json()["message"]


def test_subscription_crud(ps):
    item = ps.subscribe(SUB, options={"TTL": 120, "FIFO": True, "maxAttempts": 3})
    assert item["delivery"] == "PUSH" and item["options"]["TTL"] == 120 and item["options"]["FIFO"] is True
    assert item["subscriberId"] == {
        "instanceId": "SANDBOX",
        "memberClass": "GOV",
        "memberCode": "SUB-ORG",
        "applicationCode": "SUB",
    }
    assert ps.as_(SUB, "POST", "/api/v1/subs/newBirth", json={"serviceCode": "inbox"}).status_code == 409
    assert [s["id"] for s in ps.as_(SUB, "GET", "/api/v1/subs").json()] == [item["id"]]
    assert ps.as_(SUB2, "GET", "/api/v1/subs").json() == []
    patched = ps.as_(SUB, "PATCH", "/api/v1/subs/newBirth", json={"options": {"TTL": 60}})
    assert (
        patched.status_code == 201
        and patched.json()["options"]["TTL"] == 60
        and patched.json()["options"]["FIFO"] is True
    )
    too_many = ps.as_(SUB, "PATCH", "/api/v1/subs/newBirth", json={"options": {"maxAttempts": 10_000}})
    assert too_many.status_code == 400
    assert ps.as_(SUB, "GET", "/api/v1/subs/newBirth").json()["options"]["TTL"] == 60
    assert ps.as_(SUB, "DELETE", "/api/v1/subs/newBirth").status_code == 204
    assert ps.as_(SUB, "GET", "/api/v1/subs/newBirth").status_code == 404
    assert ps.as_(SUB, "DELETE", "/api/v1/subs/newBirth").status_code == 404


def test_push_reaches_every_subscriber_through_the_im_and_status_counts(ps, receivers):
    ps.subscribe(SUB)
    ps.subscribe(SUB2)
    event_id = ps.publish(7)
    assert wait_for(lambda: all(r.ids() == [event_id] for r in receivers))
    body, headers = receivers[0].received[0], receivers[0].headers[0]
    assert body["event"] == {"n": 7, "mother": "Jane"} and body["eventType"] == "newBirth"
    assert body["publisherId"]["applicationCode"] == "PUB" and isinstance(body["sequence"], int)
    assert headers["information-mediator-client"] == ROOM and headers["x-road-id"] == event_id
    assert "information-mediator-assertion" in headers
    assert wait_for(lambda: ps.status(event_id)["status"]["delivered"] == 2)
    status = ps.status(event_id)
    assert status["summary"] == "delivered to 2 of 2 subscriptions"
    assert {d["subscriber"] for d in status["deliveries"]} == {SUB, SUB2}
    # Publication and both deliveries are in the message log under the event id. Every attempt is logged: on a
    # loaded machine a first attempt can meet a receiver's closed keep-alive connection and be retried.
    ps.app.state.im_runtime.writer.flush()
    with ps.app.state.db.session() as session:
        rows = session.execute(
            select(LogRecord.kind, LogRecord.client, LogRecord.status).where(LogRecord.message_id == event_id)
        ).all()
    answered = sorted((kind, client) for kind, client, status in rows if 200 <= status < 300)
    assert answered == sorted([("event", PUB), ("event", ROOM), ("event", ROOM)])
    assert all(client == ROOM for _, client, status in rows if not 200 <= status < 300)
    trace = ps.admin("GET", "/api/v1/trace", params={"kind": "event", "messageId": event_id}).json()["exchanges"]
    assert len(trace) == len(rows) and {x["kind"] for x in trace} == {"event"}
    assert ps.admin("GET", "/api/v1/trace", params={"kind": "rest", "messageId": event_id}).json()["exchanges"] == []
    assert "pub/sub events" in ps.admin("GET", "/ui/trace").text
    # Another publisher cannot read the status; the room owner can.
    assert ps.as_(STRANGER, "GET", f"/pub/v1/newBirth/{event_id}").status_code == 404
    assert ps.as_(ROOM, "GET", f"/pub/v1/newBirth/{event_id}").status_code == 200


def test_push_to_a_path_that_needs_encoding_carries_an_assertion_bound_to_what_was_sent(ps, receivers):
    ps.subscribe(SUB, path="/a b/é?x=1 2")
    event_id = ps.publish(3)
    assert wait_for(lambda: receivers[0].ids() == [event_id])
    target, headers = receivers[0].targets[0], receivers[0].headers[0]
    assert target.startswith("/inbox/a%20b/%C3%A9?x=1")  # sent percent-encoded, as HTTP requires
    body = json.dumps(receivers[0].received[0], separators=(",", ":")).encode()
    verifier = AssertionVerifier(ps.server.url, KeySet.import_key_set(ps.app.state.im_runtime.public_jwks))
    expected = Exchange(ROOM, f"{SUB}/inbox", "POST", target, hashlib.sha256(body).hexdigest(), event_id)
    assert verifier.verify(headers["information-mediator-assertion"], expected).client == ROOM


def test_push_to_a_subscriber_that_is_down_then_back_gets_every_event(ps, receivers):
    ps.subscribe(SUB)
    receivers[0].stop()
    ids = [ps.publish(i) for i in range(20)]
    assert wait_for(lambda: ps.status(ids[0])["deliveries"][0]["attempts"] >= 2, timeout=10)
    receivers[0].start()
    assert wait_for(lambda: set(receivers[0].ids()) >= set(ids), timeout=20)
    counts = Counter(receivers[0].ids())
    duplicates = sum(c - 1 for c in counts.values())
    print(f"received {len(counts)} distinct events, {duplicates} duplicates")
    assert set(counts) == set(ids)
    assert wait_for(lambda: all(ps.status(i)["status"]["delivered"] == 1 for i in ids))


def test_im_restarted_between_publish_and_delivery_still_delivers(ps, receivers):
    ps.subscribe(SUB)
    receivers[0].stop()
    ids = [ps.publish(i) for i in range(5)]
    ps.restart()
    receivers[0].start()
    assert wait_for(lambda: set(receivers[0].ids()) == set(ids), timeout=20)


def test_fifo_order_kept_under_retries(ps, receivers):
    ps.subscribe(SUB, options={"FIFO": True, "maxAttempts": 50})
    receivers[0].fail_next = 5
    ids = [ps.publish(i) for i in range(15)]
    assert wait_for(lambda: len(set(receivers[0].ids())) == 15, timeout=20)
    received = receivers[0].received
    assert [e["id"] for e in received] == ids
    sequences = [e["sequence"] for e in received]
    assert sequences == sorted(sequences) and len(set(sequences)) == 15


def test_gives_up_after_max_attempts_and_records_why(ps, receivers):
    ps.subscribe(SUB, options={"maxAttempts": 2, "minBackoff": 0.05})
    receivers[0].fail_next = 100
    event_id = ps.publish(1)
    assert wait_for(lambda: ps.status(event_id)["status"]["failed"] == 1)
    detail = ps.status(event_id)["deliveries"][0]
    assert detail["state"] == "failed" and detail["attempts"] == 2
    assert "gave up after 2 attempts" in detail["lastError"] and "503" in detail["lastError"]


def test_ttl_expiry_is_recorded(ps, receivers):
    ps.subscribe(SUB, options={"TTL": 1})
    receivers[0].stop()
    event_id = ps.publish(1)
    assert wait_for(lambda: ps.status(event_id)["status"]["expired"] == 1, timeout=10)
    detail = ps.status(event_id)["deliveries"][0]
    assert detail["state"] == "expired" and "TTL expired" in detail["lastError"]
    assert ps.status(event_id)["summary"] == "delivered to 0 of 1 subscriptions"


def test_pull_and_acknowledge(ps):
    assert ps.as_(SUB, "GET", "/pull/v1/newBirth").status_code == 409  # no PULL subscription
    item = ps.subscribe(SUB, delivery="PULL")
    assert item["delivery"] == "PULL"
    assert ps.as_(SUB, "GET", "/pull/v1/newBirth").status_code == 404
    ids = [ps.publish(i) for i in range(3)]
    first = ps.as_(SUB, "GET", "/pull/v1/newBirth")
    assert first.status_code == 200 and first.json()["id"] == ids[0] and first.json()["event"]["n"] == 0
    assert ps.as_(SUB, "GET", "/pull/v1/newBirth").json()["id"] == ids[0]  # stays until acknowledged
    assert ps.as_(SUB, "DELETE", f"/pull/v1/newBirth/{ids[0]}").status_code == 204
    assert ps.as_(SUB, "DELETE", f"/pull/v1/newBirth/{ids[0]}").status_code == 404
    assert ps.as_(SUB, "GET", "/pull/v1/newBirth").json()["id"] == ids[1]
    assert ps.status(ids[0])["status"]["delivered"] == 1 and ps.status(ids[1])["status"]["pending"] == 1
    ps.restart()  # the queue survives
    for expected in ids[1:]:
        got = ps.as_(SUB, "GET", "/pull/v1/newBirth").json()["id"]
        assert got == expected
        assert ps.as_(SUB, "DELETE", f"/pull/v1/newBirth/{got}").status_code == 204
    assert ps.as_(SUB, "GET", "/pull/v1/newBirth").status_code == 404


def test_cancelled_event_is_not_delivered_and_retry_by_id_is_idempotent(ps, receivers):
    ps.subscribe(SUB)
    receivers[0].stop()
    event_id = ps.publish(1)
    assert ps.as_(STRANGER, "DELETE", f"/pub/v1/newBirth/{event_id}").status_code == 404
    assert ps.as_(PUB, "DELETE", f"/pub/v1/newBirth/{event_id}").status_code == 204
    assert ps.status(event_id)["status"]["cancelled"] == 1 and ps.status(event_id)["cancelled"] is True
    body = {"id": "client-chosen-1", "event": {"n": 2, "mother": "M"}}
    assert ps.as_(PUB, "POST", "/pub/v1/newBirth", json=body).json() == {"id": "client-chosen-1"}
    again = ps.as_(PUB, "POST", "/pub/v1/newBirth", json=body)
    assert again.status_code == 201 and again.json() == {"id": "client-chosen-1"}
    assert _count_events(ps) == 2
    receivers[0].start()
    assert wait_for(lambda: receivers[0].ids() == ["client-chosen-1"])


@pytest.mark.skipif(
    not TEST_DATABASE_URL, reason="replicas share a PostgreSQL database (row locks); SQLite has one writer"
)
def test_two_replicas_on_one_database_do_not_deliver_twice(ps, receivers, db_fields, tmp_path):
    # Enough attempts to outlast publishing 60 events (each logged durably before it is acknowledged).
    ps.subscribe(SUB, options={"maxAttempts": 40})
    receivers[0].stop()
    ids = [ps.publish(i) for i in range(60)]
    replica = PubSubStack(db_fields, tmp_path / "replica", receivers, node_id="im-2").start()
    try:
        receivers[0].start()
        assert wait_for(lambda: set(receivers[0].ids()) == set(ids), timeout=20)
        time.sleep(0.5)  # a double delivery would arrive now
        counts = Counter(receivers[0].ids())
        assert [i for i, c in counts.items() if c > 1] == []
        # Both nodes took part (each logs the attempts it made under its own chain).
        ps.app.state.im_runtime.writer.flush()
        replica.app.state.im_runtime.writer.flush()
        with ps.app.state.db.session() as session:
            chains = set(
                session.scalars(select(LogRecord.chain).where(LogRecord.kind == "event", LogRecord.client == ROOM))
            )
        assert chains <= {"im-1", "im-2"} and chains
    finally:
        replica.stop()


@pytest.mark.parametrize(
    "path,method", [("/pub/v1/newBirth", "POST"), ("/api/v1/subs/newBirth", "POST"), ("/api/v1/eventType", "POST")]
)
def test_malformed_bodies_get_400_in_the_im_shape(ps, path, method):
    client = ROOM if "eventType" in path else (SUB if "subs" in path else PUB)
    for content in (b"not json", b"[1, 2]", b'{"options": "x", "delivery": "SMOKE", "event": 1, "eventType": 5}'):
        r = ps.as_(client, method, path, content=content, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (content, r.text)
        assert r.headers["X-Road-Error"] == "Client.BadRequest" and set(r.json()) == {"type", "message", "detail"}
    assert _count_events(ps) == 0


# ---- group commit and leases at publication ------------------------------------------------------


def _publish(stack: PubSubStack, n: int, event_id: str | None = None) -> str:
    body = {"event": {"n": n, "mother": "Jane"}} | ({"id": event_id} if event_id else {})
    r = stack.as_(PUB, "POST", "/pub/v1/newBirth", json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_concurrent_publishers_share_commits_and_each_event_arrives_once_in_order(ps, receivers):
    ps.subscribe(SUB)
    ps.subscribe(SUB2, options={"FIFO": True})
    # 60 events from 12 threads; each client-chosen id is sent twice at once (a retry racing the original).
    jobs = [(n, f"batch-{n}" if n % 3 == 0 else None) for n in range(60)]
    jobs += [(n, event_id) for n, event_id in jobs if event_id]
    with ThreadPoolExecutor(12) as pool:
        ids = set(pool.map(lambda job: _publish(ps, *job), jobs))
    assert len(ids) == 60 and _count_events(ps) == 60
    assert wait_for(lambda: all(len(r.ids()) >= 60 for r in receivers), timeout=30)
    time.sleep(0.3)  # a second copy would arrive now
    for r in receivers:
        assert Counter(r.ids()) == Counter(ids)
    fifo = [e["sequence"] for e in receivers[1].received]
    assert fifo == sorted(fifo)
    assert wait_for(lambda: all(ps.status(i)["status"]["delivered"] == 2 for i in list(ids)[:5]))


def test_a_delivery_leased_at_publication_is_not_claimed_by_another_node(ps, receivers):
    ps.subscribe(SUB)
    ps.subscribe(SUB2, options={"FIFO": True})
    ps.stop()  # no worker of its own: this test plays the nodes
    db = ps.app.state.db
    with db.session() as session:
        leased, refused = service.publish_batch(
            session,
            [Publication(ROOM, "newBirth", PUB, {"n": 1, "mother": "A"}), Publication(ROOM, "newBirth", PUB, {})],
            "node-a",
            60,
        )
    assert isinstance(leased, Published) and leased.deliveries == 2
    assert [c.subscriber for c in leased.leased] == [SUB]  # the FIFO subscription's waits for a claim
    assert isinstance(refused, service.PubSubError) and refused.kind == service.BAD  # not validated before
    with db.session() as session:
        claimed = service.claim(session, "node-b", 100, 60)
    # node-b gets the FIFO deliveries, oldest first, one per subscription; never node-a's lease.
    assert [(c.subscriber, c.message_id) for c in claimed] == [(SUB2, leased.event_id)]
    with db.session() as session:
        late = Publication(ROOM, "newBirth", PUB, {"n": 2, "mother": "B"})
        backlog = service.publish_batch(session, [late], None, 60)
        assert backlog[0].leased == []  # the worker is behind: stored for a claim
        claimed = service.claim(session, "node-b", 100, 60)
    assert [(c.subscriber, c.message_id) for c in claimed] == [(SUB, backlog[0].event_id)]
    with db.session() as session:
        holders = dict(session.execute(select(Delivery.id, Delivery.leased_by)).all())
    assert holders[leased.leased[0].delivery_id] == "node-a"


def test_a_publication_the_message_log_cannot_store_is_answered_503_and_may_be_retried(ps, receivers, monkeypatch):
    ps.subscribe(SUB)
    writer = ps.app.state.im_runtime.writer

    def log_down(record: dict, timeout: float = 30.0) -> None:
        raise StoreError("the message log writer has stopped")

    async def log_down_async(record: dict) -> None:
        log_down(record)

    body = {"eventType": "newBirth", "id": "log-down-1", "event": {"n": 1, "mother": "A"}}
    with monkeypatch.context() as patch:
        patch.setattr(writer, "store", log_down_async)
        patch.setattr(writer, "store_blocking", log_down)
        r = ps.as_(PUB, "POST", "/pub/v1/newBirth", json=body)
    assert r.status_code == 503 and r.headers["X-Road-Error"] == "Server.ServerProxy.MessageLogFailure", r.text
    retry = ps.as_(PUB, "POST", "/pub/v1/newBirth", json=body)
    assert retry.status_code == 201 and retry.json()["id"] == "log-down-1"
    assert wait_for(lambda: receivers[0].ids() == ["log-down-1"])
    writer.flush()  # the publication is in the log: the retry's record, the first try's having failed
    with ps.app.state.db.session() as session:
        published = session.scalars(
            select(LogRecord.client).where(LogRecord.message_id == "log-down-1", LogRecord.client == PUB)
        ).all()
    assert published == [PUB]


def test_a_publication_not_stored_in_time_is_answered_504_not_500(ps, monkeypatch):
    publisher = ps.app.state.im_runtime.pubsub.publisher

    async def stuck(publication: Publication, timeout: float = 30.0) -> Published:
        raise TimeoutError

    monkeypatch.setattr(publisher, "publish", stuck)
    r = ps.as_(PUB, "POST", "/pub/v1/newBirth", json={"eventType": "newBirth", "event": {"n": 1, "mother": "A"}})
    assert r.status_code == 504 and r.headers["X-Road-Error"] == "Server.ServerProxy.Timeout", r.text


def test_refusals_in_a_batch_do_not_take_the_others_with_them(ps, receivers):
    ps.stop()
    with ps.app.state.db.session() as session:
        results = service.publish_batch(
            session,
            [
                Publication(ROOM, "newBirth", PUB, {"n": 1, "mother": "A"}, "same-id"),
                Publication(ROOM, "noSuchType", PUB, {"n": 2}),
                Publication(ROOM, "newBirth", SUB, {"n": 3, "mother": "C"}, "same-id"),
                Publication(ROOM, "newBirth", PUB, {"n": "four"}),
                Publication(ROOM, "newBirth", PUB, {"n": 1, "mother": "A"}, "same-id"),
            ],
            "node-a",
            60,
        )
    kinds = [r.kind if isinstance(r, service.PubSubError) else r.created for r in results]
    assert kinds == [True, service.NOT_FOUND, service.CONFLICT, service.BAD, False]
    assert _count_events(ps) == 1


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="two nodes share a PostgreSQL database; SQLite has one writer")
def test_two_nodes_publishing_at_once_deliver_every_event_once(ps, receivers, db_fields, tmp_path):
    ps.subscribe(SUB)
    ps.subscribe(SUB2, options={"FIFO": True})
    other = PubSubStack(db_fields, tmp_path / "node-2", receivers, node_id="im-2").start()
    try:
        jobs = [(ps if n % 2 else other, n) for n in range(60)]
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(lambda job: _publish(*job), jobs))
        assert wait_for(lambda: all(len(set(r.ids())) == 60 for r in receivers), timeout=30)
        time.sleep(0.5)  # a second copy would arrive now
        for r in receivers:
            assert Counter(r.ids()) == Counter(ids)
        fifo = [e["sequence"] for e in receivers[1].received]
        assert fifo == sorted(fifo)
        with ps.app.state.db.session() as session:
            states = Counter(session.scalars(select(Delivery.state)))
        assert states == {"delivered": 120}
    finally:
        other.stop()


def test_a_push_destination_is_an_http_origin_and_a_percent_encoded_target():
    assert destination("http://127.0.0.1:8101/in/a b/é?x=1 2&y=ü") == (
        ("http", "127.0.0.1", 8101),
        "/in/a%20b/%C3%A9?x=1%202&y=%C3%BC",
    )
    assert destination("https://subscriber.example/in/%41") == (("https", "subscriber.example", 443), "/in/%41")
    for url in ("pubsub:SANDBOX/GOV/ROOM-ORG/ROOM/newBirth", "http:///no-host", "ftp://h/x"):
        with pytest.raises(ValueError):
            destination(url)
