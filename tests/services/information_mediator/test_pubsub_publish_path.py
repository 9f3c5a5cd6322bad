"""publishEvent is served ahead of FastAPI's routing (`pubsub/publish_path.py`, issue 21) and answers exactly
as its route did: every request below goes to an IM with that path and to one without it (the route alone),
and the status, headers, body, stored events and message-log records must be the same."""

from __future__ import annotations

import dataclasses
import json
import threading
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select
from starlette.middleware import Middleware
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from services.common.logs import path_template
from services.information_mediator.app import create_app
from services.information_mediator.messagelog.models import LogRecord
from services.information_mediator.pubsub import service
from services.information_mediator.pubsub.models import Delivery, Event, Subscription
from services.information_mediator.pubsub.publish_path import PublishPath, publish_params
from services.information_mediator.pubsub.service import Outcome, Publication
from tests.support import LiveServer

from .test_pubsub_support import PUB, ROOM, SECRETS, STRANGER, SUB, SUB2, PubSubStack, Receiver

PUBLISH_ROUTE = "/r1/{instanceId}/{memberClass}/{memberCode}/{applicationCode}/pub/v1/{eventType}"
LIMITS = dict(max_request_bytes=16 * 1024, pubsub_max_event_bytes=1024, log_bodies=True)
EVENT = {"n": 1, "mother": "Jane"}
JSON = {"content-type": "application/json"}


class RouteOnlyStack(PubSubStack):
    """The IM as it was before the publish path: publishEvent answered by its FastAPI route."""

    def start(self) -> RouteOnlyStack:
        self.app = create_app(self.settings)
        self.app.user_middleware = [m for m in self.app.user_middleware if m.cls is not PublishPath]
        self.server = LiveServer(self.app, port=self.port).start()
        self.http = httpx.Client(base_url=self.server.url, timeout=30)
        return self


class NoRouteStack(PubSubStack):
    """An IM whose routing never sees a publish request: only the publish path can answer publishEvent."""

    def start(self) -> NoRouteStack:
        self.app = create_app(self.settings)
        self.app.user_middleware.append(Middleware(RefusePublish))  # innermost: between the path and routing
        self.server = LiveServer(self.app, port=self.port).start()
        self.http = httpx.Client(base_url=self.server.url, timeout=30)
        return self


class RefusePublish:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and publish_params(scope["path"]) is not None:
            return await Response("reached the route", status_code=599)(scope, receive, send)
        await self.app(scope, receive, send)


def _started(stack: PubSubStack) -> PubSubStack:
    stack.start()
    stack.configure()
    stack.event_type()
    return stack


@pytest.fixture
def stacks(make_db_fields, tmp_path):
    receivers = [Receiver(), Receiver()]  # never started: nobody subscribes
    started = [
        _started(PubSubStack(make_db_fields("path"), tmp_path / "path", receivers, **LIMITS)),
        _started(RouteOnlyStack(make_db_fields("route"), tmp_path / "route", receivers, **LIMITS)),
    ]
    yield started
    for s in started:
        s.stop()


def _credentials(client: str) -> dict:
    return {"Information-Mediator-Client": client, "Information-Mediator-Client-Secret": SECRETS[client]}


def _body(document: object) -> bytes:
    return json.dumps(document).encode()


PUBLISH = f"/r1/{ROOM}/pub/v1/newBirth"
# (what is tried, path, headers, body): sent in this order to both IMs.
CASES = [
    (
        "published, own id",
        PUBLISH,
        _credentials(PUB) | JSON,
        _body({"eventType": "newBirth", "id": "e-1", "event": EVENT}),
    ),
    ("retried with the same id", PUBLISH, _credentials(PUB) | JSON, _body({"id": "e-1", "event": EVENT})),
    (
        "charset",
        PUBLISH,
        _credentials(PUB) | {"content-type": "Application/JSON; charset=utf-8"},
        _body({"id": "e-2", "event": EVENT}),
    ),
    ("unknown fields ignored", PUBLISH, _credentials(PUB) | JSON, _body({"id": "e-3", "event": EVENT, "more": [1]})),
    ("the room owner publishes", PUBLISH, _credentials(ROOM) | JSON, _body({"id": "e-4", "event": EVENT})),
    ("id of another publisher", PUBLISH, _credentials(ROOM) | JSON, _body({"id": "e-1", "event": EVENT})),
    ("no client header", PUBLISH, JSON, _body({"event": EVENT})),
    ("malformed client", PUBLISH, {"X-Road-Client": "nobody"} | JSON, _body({"event": EVENT})),
    (
        "wrong secret",
        PUBLISH,
        _credentials(PUB) | {"Information-Mediator-Client-Secret": "no"} | JSON,
        _body({"event": EVENT}),
    ),
    ("no secret", PUBLISH, {"X-GovStack-Client": PUB} | JSON, _body({"event": EVENT})),
    ("unknown room", "/r1/SANDBOX/GOV/NO-ORG/NONE/pub/v1/newBirth", _credentials(PUB) | JSON, _body({"event": EVENT})),
    (
        "no right, X-Road-Id echoed",
        PUBLISH,
        _credentials(STRANGER) | JSON | {"X-Road-Id": "mine-1"},
        _body({"event": EVENT}),
    ),
    ("unknown type, no right", f"/r1/{ROOM}/pub/v1/nope", _credentials(PUB) | JSON, _body({"event": EVENT})),
    ("unknown type, room owner", f"/r1/{ROOM}/pub/v1/nope", _credentials(ROOM) | JSON, _body({"event": EVENT})),
    ("event missing", PUBLISH, _credentials(PUB) | JSON, _body({"eventType": "newBirth"})),
    ("id not a string", PUBLISH, _credentials(PUB) | JSON, _body({"event": EVENT, "id": 5})),
    ("id too long", PUBLISH, _credentials(PUB) | JSON, _body({"event": EVENT, "id": "x" * 65})),
    ("type differs from the path", PUBLISH, _credentials(PUB) | JSON, _body({"eventType": "other", "event": EVENT})),
    ("schema-invalid", PUBLISH, _credentials(PUB) | JSON, _body({"event": {"n": "one", "gender": "X"}})),
    ("event too large", PUBLISH, _credentials(PUB) | JSON, _body({"event": {"n": 1, "mother": "x" * 2000}})),
    ("not JSON", PUBLISH, _credentials(PUB) | JSON, b'{"event": '),
    ("not JSON, no credentials", PUBLISH, JSON, b'{"event": '),
    ("not UTF-8", PUBLISH, _credentials(PUB) | JSON, b'{"event": "\xff"}'),
    ("nested too deeply", PUBLISH, _credentials(PUB) | JSON, b'{"event": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
    ("an array", PUBLISH, _credentials(PUB) | JSON, b"[1]"),
    ("null", PUBLISH, _credentials(PUB) | JSON, b"null"),
    ("a string, no right", PUBLISH, _credentials(STRANGER) | JSON, b'"x"'),
    ("empty", PUBLISH, _credentials(PUB) | JSON, b""),
    ("no content type", PUBLISH, _credentials(PUB), _body({"event": EVENT})),
    ("text/plain", PUBLISH, _credentials(PUB) | {"content-type": "text/plain"}, _body({"event": EVENT})),
    (
        "+json",
        PUBLISH,
        _credentials(PUB) | {"content-type": "application/event+json"},
        _body({"id": "e-5", "event": EVENT}),
    ),
    ("body over the IM's limit", PUBLISH, _credentials(PUB) | JSON, _body({"event": {"mother": "x" * 17_000}})),
    ("NUL in the path", f"/r1/{ROOM}/pub/v1/new%00Birth", _credentials(PUB) | JSON, _body({"event": EVENT})),
    ("trailing slash", PUBLISH + "/", _credentials(PUB) | JSON, _body({"event": EVENT})),
    ("an empty segment", f"/r1/{ROOM}/pub/v1/", _credentials(PUB) | JSON, _body({"event": EVENT})),
]


def _answer(r: httpx.Response) -> tuple:
    origin = f"{r.request.url.scheme}://{r.request.url.netloc.decode()}"  # each IM has a port of its own
    headers = sorted((k, v.replace(origin, "")) for k, v in r.headers.multi_items() if k not in ("date", "server"))
    return r.status_code, headers, r.content


def test_the_publish_path_answers_every_case_as_the_route_did(stacks):
    path, route = stacks
    for what, url, headers, body in CASES:
        answers = [_answer(s.http.post(url, headers=headers, content=body)) for s in (path, route)]
        assert answers[0] == answers[1], what
    assert route.http.get(PUBLISH, headers=_credentials(PUB)).status_code == 405  # other methods pass through
    assert _answer(path.http.get(PUBLISH, headers=_credentials(PUB))) == _answer(
        route.http.get(PUBLISH, headers=_credentials(PUB))
    )

    def stored(stack: PubSubStack) -> tuple[list, list]:
        with stack.app.state.db.session() as session:
            events = session.execute(
                select(Event.event_id, Event.room, Event.event_type, Event.publisher, Event.payload).order_by(Event.id)
            ).all()
            records = session.execute(
                select(
                    LogRecord.message_id,
                    LogRecord.correlation_id,
                    LogRecord.kind,
                    LogRecord.client,
                    LogRecord.service,
                    LogRecord.method,
                    LogRecord.path,
                    LogRecord.status,
                    LogRecord.error_type,
                    LogRecord.request_size,
                    LogRecord.response_size,
                    LogRecord.request_hash,
                    LogRecord.response_hash,
                    LogRecord.request_body,
                    LogRecord.response_body,
                )
                .where(LogRecord.kind == "event")
                .order_by(LogRecord.seq)
            ).all()
        return [tuple(e) for e in events], [tuple(r) for r in records]

    events, records = stored(path)
    assert [e[0] for e in events] == ["e-1", "e-2", "e-3", "e-4", "e-5"]
    assert len(records) == 6  # the retry is an exchange of its own
    assert (events, records) == stored(route)


def test_publish_is_answered_ahead_of_routing(make_db_fields, tmp_path):
    stack = _started(NoRouteStack(make_db_fields("noroute"), tmp_path, [Receiver(), Receiver()]))
    try:
        r = stack.as_(PUB, "POST", "/pub/v1/newBirth", json={"eventType": "newBirth", "id": "e-9", "event": EVENT})
        assert r.status_code == 201 and r.json() == {"id": "e-9"}
        denied = stack.as_(STRANGER, "POST", "/pub/v1/newBirth", json={"event": EVENT})
        assert denied.status_code == 403 and denied.headers["X-Road-Error"] == "Client.AccessDenied"
    finally:
        stack.stop()


def test_the_route_still_documents_publish_event(stacks):
    path, _ = stacks
    operation = path.http.get("/openapi.json").json()["paths"][PUBLISH_ROUTE]["post"]
    assert "201" in operation["responses"]


def test_the_access_log_names_the_route_parameters():
    path = f"/r1/{ROOM}/pub/v1/newBirth"
    assert publish_params(path) == {
        "instanceId": "SANDBOX",
        "memberClass": "GOV",
        "memberCode": "ROOM-ORG",
        "applicationCode": "ROOM",
        "eventType": "newBirth",
    }
    assert path_template({"path": path, "path_params": publish_params(path)}) == PUBLISH_ROUTE
    for other in (f"/r1/{ROOM}/pub/v1/a/b", f"/r1/{ROOM}/pub/v1/", f"/r1/{ROOM}/pull/v1/a", "/r1/S/G/M//pub/v1/a"):
        assert publish_params(other) is None


# ---- the publication batch's rows ----------------------------------------------------------------------------


@pytest.fixture
def quiet(db_fields, tmp_path):
    """An IM with an event type and two subscriptions (one FIFO), stopped: the test plays the publisher."""
    s = PubSubStack(db_fields, tmp_path, [Receiver(), Receiver()]).start()
    s.configure()
    s.event_type()
    s.subscribe(SUB)
    s.subscribe(SUB2, options={"FIFO": True, "TTL": 120})
    s.stop()
    yield s


def _raw(session, table: str, where: str, *params: object) -> list[tuple]:  # noqa: ANN001
    """Rows as the database holds them (what the driver returns, no SQLAlchemy type processing)."""
    mark = "?" if session.get_bind().dialect.paramstyle == "qmark" else "%s"
    return [
        tuple(r) for r in session.connection().exec_driver_sql(f"SELECT * FROM {table} WHERE {where}{mark}", params)
    ]


def test_a_publication_batch_stores_its_rows_as_the_orm_would(quiet):
    db = quiet.app.state.db
    items = [Publication(ROOM, "newBirth", PUB, {"n": n, "mother": "A"}, f"row-{n}") for n in range(3)]
    with db.session() as session:
        results = service.publish_batch(session, items, "node-a", 60)
    assert [r.event_id for r in results] == ["row-0", "row-1", "row-2"] and all(r.created for r in results)
    with db.session() as session:
        subs = {s.subscriber: s.id for s in session.scalars(select(Subscription))}
        stored = session.execute(
            select(Delivery.id, Event.event_id, Delivery.subscription_id).join(Event, Event.id == Delivery.event_pk)
        ).all()
    # Each leased delivery (the non-FIFO subscription's) is the stored row of its event and subscription.
    rows = {(event_id, sub): delivery_id for delivery_id, event_id, sub in stored}
    assert len(rows) == 6
    for r in results:
        assert [(c.delivery_id, c.subscriber) for c in r.leased] == [(rows[(r.event_id, subs[SUB])], SUB)]
        claimed = r.leased[0]  # the subscription's columns as SQLAlchemy reads them
        assert claimed.fifo is False and claimed.policy.base_seconds == quiet.settings.pubsub_min_backoff
        assert (claimed.service_code, claimed.path, claimed.policy.max_attempts) == ("inbox", "", 12)

    # The same values stored through the ORM are stored identically, column by column.
    with db.session() as session:
        first = session.scalar(select(Event).where(Event.event_id == "row-0"))
        control = Event(
            event_id="control",
            room=first.room,
            event_type=first.event_type,
            publisher=first.publisher,
            payload=first.payload,
            published_at=first.published_at,
        )
        session.add(control)
        session.flush()
        for d in session.scalars(select(Delivery).where(Delivery.event_pk == first.id)).all():
            copy = {c.key: getattr(d, c.key) for c in Delivery.__table__.columns if c.key != "id"}
            session.add(Delivery(**(copy | {"event_pk": control.id, "sequence": control.id})))
        session.flush()
        events = [_raw(session, "im_pubsub_event", "event_id = ", name)[0][2:] for name in ("row-0", "control")]
        assert events[0] == events[1]
        deliveries = [
            sorted(row[2:3] + row[4:] for row in _raw(session, "im_pubsub_delivery", "event_pk = ", pk))
            for pk in (first.id, control.id)
        ]
        assert len(deliveries[0]) == 2 and deliveries[0] == deliveries[1]


def test_events_are_checked_in_threads_of_their_own(ps_quiet_publisher, monkeypatch):
    """Off the event loop, and not in the threads sync routes take turns on: slow checks stall no route."""
    threads = []
    check = service.validate_event

    def noted(*args: object) -> None:
        threads.append(threading.current_thread().name)
        check(*args)

    monkeypatch.setattr(service, "validate_event", noted)
    r = ps_quiet_publisher.as_(PUB, "POST", "/pub/v1/newBirth", json={"event": EVENT})
    assert r.status_code == 201, r.text
    assert len(threads) == 1 and threads[0].startswith("im-pubsub-check")


@pytest.fixture
def ps_quiet_publisher(db_fields, tmp_path):
    s = _started(PubSubStack(db_fields, tmp_path, [Receiver(), Receiver()]))
    yield s
    s.stop()


def test_outcomes_are_stored_as_the_orm_would(quiet):
    db = quiet.app.state.db
    items = [Publication(ROOM, "newBirth", PUB, {"n": n, "mother": "A"}) for n in range(4)]
    with db.session() as session:
        results = service.publish_batch(session, items, "node-a", 60)
    claimed = [r.leased[0] for r in results]  # SUB's deliveries; SUB2's (FIFO) are not leased
    gave_up = dataclasses.replace(claimed[3], attempts=11)  # its 12th and last attempt
    with db.session() as session:
        service.record_outcomes(
            session,
            [
                Outcome(claimed[0], 200, None),
                Outcome(claimed[1], 204, None),
                Outcome(claimed[2], 503, "Server.ServerProxy.HttpError: subscriber answered 503"),
                Outcome(gave_up, None, "Server.ServerProxy.Timeout: subscriber did not answer in time"),
            ],
        )
    columns = [c for c in Delivery.__table__.columns if c.key not in ("id", "event_pk", "subscription_id", "sequence")]
    with db.session() as session:
        recorded = [session.get(Delivery, c.delivery_id) for c in claimed]
        at = recorded[0].updated_at
        assert [(d.state, d.attempts, d.last_status, d.lease_until, d.leased_by) for d in recorded] == [
            ("delivered", 1, 200, None, None),
            ("delivered", 1, 204, None, None),
            ("pending", 1, 503, None, None),
            ("failed", 12, None, None, None),
        ]
        assert [d.delivered_at for d in recorded] == [at, at, None, None]
        assert recorded[2].next_attempt_at == at + timedelta(seconds=quiet.settings.pubsub_min_backoff)
        assert recorded[3].last_error.endswith("did not answer in time; gave up after 12 attempts")
        # The same values written through the ORM onto SUB2's rows are stored identically.
        controls = session.scalars(select(Delivery).where(Delivery.id.not_in([c.delivery_id for c in claimed]))).all()[
            :4
        ]
        assert len(controls) == 4
        for d, control in zip(recorded, controls, strict=True):
            for column in columns:
                setattr(control, column.key, getattr(d, column.key))
        session.flush()
        names = ", ".join(c.name for c in columns)
        mark = "?" if session.get_bind().dialect.paramstyle == "qmark" else "%s"

        def raw(delivery_id: int) -> tuple:
            sql = f"SELECT {names} FROM im_pubsub_delivery WHERE id = {mark}"
            return tuple(session.connection().exec_driver_sql(sql, (delivery_id,)).one())

        for d, control in zip(recorded, controls, strict=True):
            assert raw(d.id) == raw(control.id)
