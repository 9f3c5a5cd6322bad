"""Helpers for the pub/sub tests: an IM that can be restarted on the same database, a subscriber that can
be taken down and brought back on the same port, and the room/publisher/subscriber applications."""

from __future__ import annotations

import threading
import time

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.common.im_client import hash_secret
from services.information_mediator.app import create_app
from services.information_mediator.settings import IMSettings
from tests.support import LiveServer, free_port

ADMIN = "pubsub-admin-token"
ROOM = "SANDBOX/GOV/ROOM-ORG/ROOM"
PUB = "SANDBOX/GOV/PUB-ORG/PUB"
SUB = "SANDBOX/GOV/SUB-ORG/SUB"
SUB2 = "SANDBOX/GOV/SUB-ORG/SUB2"
STRANGER = "SANDBOX/GOV/PUB-ORG/STRANGER"
SECRETS = {ROOM: "room-secret", PUB: "pub-secret", SUB: "sub-secret", SUB2: "sub2-secret", STRANGER: "stranger-secret"}

BIRTH_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {"n": {"type": "integer"}, "mother": {"type": "string"}, "gender": {"enum": ["M", "F"]}},
    "required": ["n", "mother"],
}


class Receiver:
    """A subscriber's service: records every event POSTed to it; can fail on purpose or be stopped."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.received: list[dict] = []
        self.headers: list[dict] = []
        self.targets: list[str] = []  # path and query of each request, as sent (percent-encoded)
        self.fail_next = 0  # answer 503 to this many requests first
        self.lock = threading.Lock()
        self.server: LiveServer | None = None

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/inbox/{rest:path}")
        @app.post("/inbox")
        async def inbox(request: Request) -> JSONResponse:
            body = await request.json()
            with self.lock:
                if self.fail_next > 0:
                    self.fail_next -= 1
                    return JSONResponse({"error": "busy"}, status_code=503)
                self.received.append(body)
                self.headers.append(dict(request.headers))
                query = request.scope["query_string"].decode("latin-1")
                self.targets.append(request.scope["raw_path"].decode("latin-1") + ("?" + query if query else ""))
            return JSONResponse({"ok": True})

        return app

    def start(self) -> Receiver:
        self.server = LiveServer(self.app(), port=self.port).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.stop()
            self.server = None

    def ids(self) -> list[str]:
        with self.lock:
            return [e["id"] for e in self.received]


def members_conf(receiver_url: str, receiver2_url: str) -> dict:
    room_right = [{"member": "ROOM-ORG", "application": "ROOM"}]
    return {
        "domain": "test.localhost",
        "instance": "SANDBOX",
        "members": [
            {
                "name": "Room Org",
                "class": "GOV",
                "code": "ROOM-ORG",
                "applications": [{"id": "ROOM", "secretHash": hash_secret(SECRETS[ROOM])}],
            },
            {
                "name": "Pub Org",
                "class": "GOV",
                "code": "PUB-ORG",
                "applications": [
                    {"id": "PUB", "secretHash": hash_secret(SECRETS[PUB])},
                    {"id": "STRANGER", "secretHash": hash_secret(SECRETS[STRANGER])},
                ],
            },
            {
                "name": "Sub Org",
                "class": "GOV",
                "code": "SUB-ORG",
                "applications": [
                    {
                        "id": "SUB",
                        "secretHash": hash_secret(SECRETS[SUB]),
                        "services": [
                            {
                                "id": "inbox",
                                "serviceUrl": f"{receiver_url}/inbox",
                                "specUrl": f"{receiver_url}/openapi.json",
                                "rights": room_right,
                            }
                        ],
                    },
                    {
                        "id": "SUB2",
                        "secretHash": hash_secret(SECRETS[SUB2]),
                        "services": [
                            {
                                "id": "inbox",
                                "serviceUrl": f"{receiver2_url}/inbox",
                                "specUrl": f"{receiver2_url}/openapi.json",
                                "rights": room_right,
                            }
                        ],
                    },
                ],
            },
        ],
    }


FAST_RETRIES = dict(
    pubsub_min_backoff=0.05,
    pubsub_max_backoff=0.2,
    pubsub_poll_seconds=0.05,
    pubsub_delivery_timeout=2.0,
    registry_poll_seconds=0.2,
)


class PubSubStack:
    def __init__(self, db_fields: dict, data_dir, receivers: list[Receiver], **overrides):  # noqa: ANN001, ANN003
        self.settings = IMSettings(**db_fields, data_dir=data_dir, admin_token=ADMIN, **(FAST_RETRIES | overrides))
        self.receivers = receivers
        self.port = free_port()
        self.server: LiveServer | None = None
        self.app = None
        self.http: httpx.Client | None = None

    def start(self) -> PubSubStack:
        self.app = create_app(self.settings)
        self.server = LiveServer(self.app, port=self.port).start()
        self.http = httpx.Client(base_url=self.server.url, timeout=30)
        return self

    def stop(self) -> None:
        if self.http:
            self.http.close()
        if self.server:
            self.server.stop()
            self.server = None

    def restart(self) -> None:
        self.stop()
        self.start()

    # ---- calls ----
    def as_(self, client: str, method: str, path: str, **kwargs) -> httpx.Response:  # noqa: ANN003
        headers = {"Information-Mediator-Client": client, "Information-Mediator-Client-Secret": SECRETS[client]}
        headers.update(kwargs.pop("headers", {}))
        return self.http.request(method, f"/r1/{ROOM}{path}", headers=headers, **kwargs)

    def admin(self, method: str, path: str, **kwargs) -> httpx.Response:  # noqa: ANN003
        return self.http.request(method, path, headers={"Authorization": f"Bearer {ADMIN}"}, **kwargs)

    def configure(self) -> None:
        r = self.admin("PUT", "/api/v1/config", json=members_conf(self.receivers[0].url, self.receivers[1].url))
        assert r.status_code == 201, r.text

    def allow(self, service_code: str, client: str) -> None:
        _, member_class, member_code, application = client.split("/")
        r = self.admin(
            "PATCH",
            "/api/v1/rights/allow",
            json=[
                {
                    "memberClass": "GOV",
                    "memberCode": "ROOM-ORG",
                    "applicationId": "ROOM",
                    "serviceId": service_code,
                    "rights": [{"memberClass": member_class, "memberCode": member_code, "applicationId": application}],
                }
            ],
        )
        assert r.status_code == 200, r.text

    def event_type(
        self, name: str = "newBirth", schema: dict | None = None, publishers=(PUB,), subscribers=(SUB, SUB2)
    ) -> None:  # noqa: ANN001
        r = self.as_(ROOM, "POST", "/api/v1/eventType", json={"eventType": name, "schema": schema or BIRTH_SCHEMA})
        assert r.status_code == 200, r.text
        for client in publishers:
            self.allow(name, client)
        for client in subscribers:
            self.allow(name + ".subscribe", client)

    def subscribe(self, client: str, event_type: str = "newBirth", **body) -> dict:  # noqa: ANN003
        body = {"eventType": event_type, "delivery": "PUSH", "serviceCode": "inbox"} | body
        r = self.as_(client, "POST", f"/api/v1/subs/{event_type}", json=body)
        assert r.status_code == 200, r.text
        return r.json()

    def publish(self, n: int, event_type: str = "newBirth", client: str = PUB) -> str:
        r = self.as_(
            client, "POST", f"/pub/v1/{event_type}", json={"eventType": event_type, "event": {"n": n, "mother": "Jane"}}
        )
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def status(self, event_id: str, event_type: str = "newBirth") -> dict:
        r = self.as_(PUB, "GET", f"/pub/v1/{event_type}/{event_id}")
        assert r.status_code == 200, r.text
        return r.json()


def wait_for(predicate, timeout: float = 15.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
