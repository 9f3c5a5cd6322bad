"""One publisher cannot stall the IM (issue 16, finding 6): event-type regexes run in linear time, schemas
that a linear-time engine cannot run are refused, validation has a deadline, schemas and events have sizes."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from fastapi import FastAPI

from tests.support import LiveServer, wait_until

from .test_pubsub_support import PUB, ROOM, PubSubStack, Receiver


@pytest.fixture
def ps(db_fields, tmp_path):
    receivers = [Receiver(), Receiver()]  # never started: these tests only publish
    s = PubSubStack(db_fields, tmp_path, receivers).start()
    s.configure()
    yield s
    s.stop()


class HealthProbe:
    """Asks `/health` over its own connection every 50 ms and keeps the slowest answer."""

    def __init__(self, url: str):
        self.url, self.slowest, self.answers = url, 0.0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            while not self._stop.is_set():
                started = time.monotonic()
                assert http.get("/health").status_code == 200
                self.slowest = max(self.slowest, time.monotonic() - started)
                self.answers += 1
                self._stop.wait(0.05)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        assert wait_until(lambda: self.answers >= 1, timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def _create(ps: PubSubStack, name: str, schema: dict) -> httpx.Response:
    return ps.as_(ROOM, "POST", "/api/v1/eventType", json={"eventType": name, "schema": schema})


def _publish(ps: PubSubStack, name: str, event: object, timeout: float = 10) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    r = ps.as_(PUB, "POST", f"/pub/v1/{name}", json={"event": event}, timeout=timeout)
    return r, time.monotonic() - started


def _event_type(ps: PubSubStack, name: str, schema: dict) -> None:
    r = _create(ps, name, schema)
    assert r.status_code == 200, r.text
    ps.allow(name, PUB)


EVIL = "^(a+)+$"  # Python's backtracking `re` doubles its time with every character of an almost-match
ALMOST = "a" * 23 + "!"  # seconds with `re` (minutes at 30), holding the GIL: every thread of the IM waits


@pytest.mark.parametrize(
    ("schema", "event"),
    [
        ({"properties": {"s": {"type": "string", "pattern": EVIL}}}, {"s": ALMOST}),
        ({"patternProperties": {EVIL: {"type": "integer"}}}, {ALMOST: 1}),
        ({"patternProperties": {EVIL: {}}, "additionalProperties": False}, {ALMOST: 1}),
        ({"properties": {"s": {"type": "string", "format": "regex"}}}, {"s": "(a+)+$"}),
    ],
    ids=["pattern", "patternProperties", "additionalProperties", "format-regex"],
)
def test_a_backtracking_pattern_neither_stalls_the_im_nor_is_slow(ps, schema, event):
    _event_type(ps, "evil", {"type": "object"} | schema)
    with HealthProbe(ps.server.url) as probe:
        r, took = _publish(ps, "evil", event)
        time.sleep(0.2)
    assert r.status_code in (201, 400), r.text
    assert took < 1.0, f"the publish took {took:.1f} s"
    assert probe.answers >= 2 and probe.slowest < 1.0, f"/health waited {probe.slowest:.1f} s"


def test_a_regex_a_linear_time_engine_cannot_run_is_refused_at_registration(ps):
    for pattern in ("^(?=a)a$", r"^(a)\1$"):
        for schema in (
            {"type": "string", "pattern": pattern},
            {"type": "object", "patternProperties": {pattern: {}}},
            {"$defs": {"x": {"properties": {"deep": {"pattern": pattern}}}}},
        ):
            r = _create(ps, "lookaround", schema)
            assert r.status_code == 400, (schema, r.text)
            assert r.headers["X-Road-Error"] == "Client.BadRequest"
            assert pattern in r.json()["message"] and "linear" in r.json()["message"]
    assert ps.as_(ROOM, "GET", "/api/v1/eventType").status_code == 204  # nothing was created


def test_a_schema_that_takes_exponential_time_is_cut_off_at_the_deadline(ps):
    # Each level refers twice to the level below: 2**22 subschema evaluations for any object.
    levels = 22
    defs = {"l0": {"type": "object"}} | {
        f"l{i}": {"allOf": [{"$ref": f"#/$defs/l{i - 1}"}, {"$ref": f"#/$defs/l{i - 1}"}]} for i in range(1, levels)
    }
    _event_type(ps, "doubling", {"$defs": defs, "$ref": f"#/$defs/l{levels - 1}"})
    with HealthProbe(ps.server.url) as probe:
        r, took = _publish(ps, "doubling", {"n": 1})
    assert r.status_code == 400 and r.headers["X-Road-Error"] == "Client.BadRequest", r.text
    assert "1 s" in r.json()["message"]
    assert took < 3.0, f"the publish took {took:.1f} s"
    assert probe.slowest < 1.0, f"/health waited {probe.slowest:.1f} s"
    # The IM is free again: a well-behaved event type publishes at once.
    _event_type(ps, "plain", {"type": "object"})
    r, took = _publish(ps, "plain", {"n": 1})
    assert r.status_code == 201 and took < 1.0


def test_unique_items_on_a_large_array_is_checked_in_linear_time(ps):
    _event_type(ps, "unique", {"type": "array", "uniqueItems": True})
    distinct = [{"a": i} for i in range(8000)]  # unhashable items: jsonschema compares every pair
    r, took = _publish(ps, "unique", distinct)
    assert r.status_code == 201 and took < 1.5, (r.text, took)
    r, _ = _publish(ps, "unique", [{"a": 1}, {"b": [1, 2]}, {"a": 1.0}])
    assert r.status_code == 400 and "non-unique" in r.json()["message"]
    r, _ = _publish(ps, "unique", [1, True, {"a": 1, "b": 2}, {"b": 2, "a": 3}])
    assert r.status_code == 201, r.text  # true is not 1 in JSON Schema; objects compare by content


def test_schemas_and_events_have_a_size_limit(ps):
    settings = ps.settings
    big_schema = {"type": "object", "description": "x" * settings.pubsub_max_schema_bytes}
    r = _create(ps, "big", big_schema)
    assert r.status_code == 400 and "schema" in r.json()["message"] and "bytes" in r.json()["message"]
    _event_type(ps, "anything", {})
    r, _ = _publish(ps, "anything", {"blob": "x" * settings.pubsub_max_event_bytes})
    assert r.status_code == 400 and r.headers["X-Road-Error"] == "Client.BadRequest"
    assert "event" in r.json()["message"] and "bytes" in r.json()["message"]
    r, _ = _publish(ps, "anything", {"blob": "x" * (settings.pubsub_max_event_bytes // 2)})
    assert r.status_code == 201, r.text


def test_validation_errors_stay_short(ps):
    _event_type(ps, "short", {"type": "object", "properties": {"s": {"type": "string", "pattern": "^b+$"}}})
    r, _ = _publish(ps, "short", {"s": "a" * 100_000})
    assert r.status_code == 400 and "does not match" in r.json()["message"]
    assert len(r.text) < 2000


def test_a_schema_cannot_make_the_im_fetch_a_url(ps):
    hits: list[str] = []
    target = FastAPI()

    @target.get("/{name}")
    def schema(name: str) -> dict:
        hits.append(name)
        return {"type": "object"}

    with LiveServer(target) as server:
        r = _create(ps, "remote", {"properties": {"x": {"$ref": f"{server.url}/absolute.json"}}})
        assert r.status_code == 400 and "does not fetch" in r.json()["message"], r.text
        # A relative reference under a remote $id is only resolvable by fetching: the event is refused.
        _event_type(ps, "relative", {"$id": f"{server.url}/", "properties": {"x": {"$ref": "relative.json"}}})
        r, _ = _publish(ps, "relative", {"x": 1})
        assert r.status_code == 400 and r.headers["X-Road-Error"] == "Client.BadRequest", r.text
    assert hits == []
