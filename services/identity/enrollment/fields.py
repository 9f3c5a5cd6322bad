"""Enrollment `fields` (MOSIP style, values often JSON strings of language arrays) to identity attributes."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

SIMPLE = {
    "name": ("fullName", "name", "full_name"),
    "given_name": ("firstName", "givenName", "given_name"),
    "family_name": ("lastName", "familyName", "family_name", "surname"),
    "middle_name": ("middleName", "middle_name"),
    "gender": ("gender",),
    "birthdate": ("dateOfBirth", "birthdate", "dob"),
    "phone_number": ("phone", "phoneNumber", "phone_number"),
    "email": ("email",),
}
ADDRESS = {
    "street_address": ("addressLine1", "street_address", "streetAddress"),
    "locality": ("city", "locality"),
    "region": ("region", "province"),
    "postal_code": ("postalCode", "postal_code"),
    "country": ("country",),
}
IDENTIFIER_KEYS = ("UIN", "uin", "VID", "vid", "individualId")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class FieldError(ValueError):
    pass


def plain(value: Any) -> Any:
    """`'[ {"language": "eng", "value": "Male"} ]'` -> `"Male"` (English first); other values unchanged."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        english = [v for v in value if v.get("language") in ("eng", "en")]
        return (english or value)[0].get("value")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def _first(fields: dict[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if name in fields and fields[name] not in (None, ""):
            return plain(fields[name])
    return None


def _birthdate(value: str) -> str:
    text = value.strip().replace("/", "-")
    try:
        born = date.fromisoformat(text)
    except ValueError as exc:
        raise FieldError("dateOfBirth must be a date (YYYY-MM-DD)") from exc
    if born > date.today():
        raise FieldError("dateOfBirth is in the future")
    return born.isoformat()


def attributes(fields: dict[str, Any]) -> dict[str, Any]:
    """Identity attributes (OIDC claim names) found in the fields; only the fields present."""
    out: dict[str, Any] = {}
    for claim, names in SIMPLE.items():
        value = _first(fields, names)
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > 256:
            raise FieldError(f"{names[0]} must be a text of at most 256 characters")
        out[claim] = value.strip()
    if "gender" in out:
        out["gender"] = out["gender"].lower()
    if "birthdate" in out:
        out["birthdate"] = _birthdate(out["birthdate"])
    if "email" in out and not _EMAIL.match(out["email"]):
        raise FieldError("email is not an email address")
    address = {part: _first(fields, names) for part, names in ADDRESS.items()}
    address = {k: str(v).strip() for k, v in address.items() if v is not None}
    if address:
        out["address"] = address
    if "name" not in out and ("given_name" in out or "family_name" in out):
        out["name"] = " ".join(p for p in (out.get("given_name"), out.get("family_name")) if p)
    return out


def aliases(fields: dict[str, Any]) -> list[str]:
    raw = fields.get("aliases")
    if raw is None:
        return []
    raw = plain(raw) if isinstance(raw, str) else raw
    values = raw if isinstance(raw, list) else [raw]
    if not all(isinstance(v, str) and 0 < len(v) <= 256 for v in values):
        raise FieldError("aliases must be a list of names")
    return [v.strip() for v in values]


def identifier(fields: dict[str, Any]) -> str | None:
    value = _first(fields, IDENTIFIER_KEYS)
    return str(value) if value is not None else None
