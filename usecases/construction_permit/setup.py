"""`sandbox up` hook: the OIDC client at the Identity BB, and the notification room's event type and our
PUSH subscription at the IM."""
from __future__ import annotations

from services.common.im_client import IMClient
from usecases.common.registration import identity_admin_token, register_client

from .notifications import setup_room
from .settings import IM_CLIENT, ConstructionPermitSettings


def on_up(sandbox) -> None:  # noqa: ANN001 - sandbox.launcher.Sandbox
    settings = ConstructionPermitSettings(data_dir=sandbox.data_dir / "construction_permit",
                                          public_url=sandbox.url("construction_permit"), im_url=sandbox.im_url)
    if "identity" in sandbox.running:
        register_client(sandbox.url("identity"), identity_admin_token(sandbox), settings,
                        "Construction permits (Sandbox City)", "MUNICIPALITY")
    else:
        print("construction_permit: Identity is not running; login is unavailable")  # noqa: T201
    setup_room(IMClient(sandbox.im_url, IM_CLIENT, sandbox.client_secrets[IM_CLIENT]), settings)
