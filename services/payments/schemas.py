"""The answer bodies both API generations share (`envelopes.v1_body`, `envelopes.v3_body`)."""

from __future__ import annotations

from pydantic import BaseModel


class V1Answer(BaseModel):
    """The 1.0 files' answer (`ResponseCode` "00" success, "01" failure)."""

    ResponseCode: str
    ResponseDescription: str
    RequestID: str | None = None


class V3Answer(BaseModel):
    responseCode: str
    responseDescription: str
    requestID: str
