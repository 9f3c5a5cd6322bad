"""The cash-transfer routes' typed dependencies (the shared ones, and the rule on async routes, are in
`usecases.common.dependencies`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from usecases.common.dependencies import DB, IM, FormFields, JSONObject, RawBody, get_settings

from .settings import CashTransferSettings

__all__ = ["DB", "IM", "FormFields", "JSONObject", "RawBody", "Settings", "WebhookSecret"]


async def webhook_secret(request: Request) -> str:
    return request.app.state.consent_webhook_secret


Settings = Annotated[CashTransferSettings, Depends(get_settings)]
WebhookSecret = Annotated[str, Depends(webhook_secret)]
