"""Body of the simulated FSPs' listing (sandbox extension)."""

from __future__ import annotations

from pydantic import BaseModel


class FSPView(BaseModel):
    institutionCode: str
    name: str
    kind: str
    accountPattern: str | None = None
