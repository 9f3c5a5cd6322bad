"""Pieces every Consent schema shares: the base model of spec objects, the integer bound, references by id."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

# Largest integer the API takes: columns are INTEGER (int32 on PostgreSQL); bigger values are a 400, not a 500.
MAX_INT = 2**31 - 1


class SpecModel(BaseModel):
    """Spec objects arrive camelCase; unknown keys (and read-only ones like `id`) are ignored."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


def id_of(value: Any) -> str | None:
    """Foreign keys may be sent as an id string or as the object (`{"id": ...}`)."""
    if isinstance(value, dict):
        value = value.get("id")
    if value is None:
        return None
    return str(value).strip() or None


def present(fields: dict[str, Any]) -> dict[str, Any]:
    """The members that have a value: the spec declares none nullable, so a missing value is a missing key."""
    return {key: value for key, value in fields.items() if value is not None}
