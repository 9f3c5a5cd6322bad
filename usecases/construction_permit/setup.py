"""`sandbox up` hook: the OIDC client at the Identity BB, and the notification room's event type and our
PUSH subscription at the IM. It runs in the launcher, so it imports no web or database code."""

from __future__ import annotations

from services.common.im_client import IMClient
from usecases.common.hooks import RunningSandbox
from usecases.common.registration import identity_admin_token, register_client

from .settings import ConstructionPermitSettings

EVENT_SCHEMA = {
    "type": "object",
    "required": ["applicationId", "action", "state", "text", "audiences"],
    "properties": {
        "applicationId": {"type": "string"},
        "action": {"type": "string"},
        "state": {"type": "string"},
        "text": {"type": "string"},
        "audiences": {"type": "array", "items": {"type": "string"}},
    },
}


def on_up(sandbox: RunningSandbox) -> None:
    settings = ConstructionPermitSettings(
        data_dir=sandbox.data_dir / "construction_permit",
        public_url=sandbox.public_url("construction_permit"),
        im_url=sandbox.im_url,
    )
    if "identity" in sandbox.running:
        register_client(
            sandbox.url("identity"),
            identity_admin_token(sandbox),
            settings,
            "Construction permits (Sandbox City)",
            "MUNICIPALITY",
        )
    else:
        print("construction_permit: Identity is not running; login is unavailable")  # noqa: T201
    client = str(settings.im_client)
    setup_room(IMClient(sandbox.im_url, client, sandbox.client_secrets[client]), settings)


def setup_room(im: IMClient, settings: ConstructionPermitSettings) -> None:
    """Creates the event type in our room and our PUSH subscription to it (both kept if they exist)."""
    room_api = settings.room + "/api"  # the pub/sub API lives under the room: /r1/<room>/api/v1/...
    created = im.request_sync(
        room_api, "POST", "/v1/eventType", json={"eventType": settings.event_type, "schema": EVENT_SCHEMA}
    )
    if created.status_code not in (200, 201, 409):
        raise RuntimeError(f"the IM refused the event type: {created.status_code} {created.text[:200]}")
    subscribed = im.request_sync(
        room_api,
        "POST",
        f"/v1/subs/{settings.event_type}",
        json={"delivery": "PUSH", "serviceCode": "callbacks", "path": "/callbacks/events"},
    )
    if subscribed.status_code not in (200, 201, 409):
        raise RuntimeError(f"the IM refused the subscription: {subscribed.status_code} {subscribed.text[:200]}")
