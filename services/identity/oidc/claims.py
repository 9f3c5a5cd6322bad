"""Which claims a login asks for: from `scope` and the `claims` parameter, limited to the client's claims."""

from __future__ import annotations

import json
from typing import Any

SCOPE_CLAIMS = {
    "profile": [
        "name",
        "given_name",
        "family_name",
        "middle_name",
        "nickname",
        "preferred_username",
        "gender",
        "birthdate",
        "picture",
        "locale",
        "zoneinfo",
    ],
    "email": ["email", "email_verified"],
    "phone": ["phone_number", "phone_number_verified"],
    "address": ["address"],
}
SUPPORTED_SCOPES = ["openid", *SCOPE_CLAIMS]

# Authentication context classes this provider can satisfy, and the factor each one needs.
ACR_FACTORS = {
    "idbb:acr:generated-code": "OTP",
    "idbb:acr:static-code": "PIN",
    "idbb:acr:linked-wallet": "WLA",
}


class ClaimsRequestError(ValueError):
    pass


def parse_claims_parameter(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ClaimsRequestError("claims is not valid JSON") from exc
    if not isinstance(value, dict) or any(not isinstance(value.get(k, {}), dict) for k in ("userinfo", "id_token")):
        raise ClaimsRequestError("claims must be an object with userinfo/id_token objects")
    return value


def requested_claims(scopes: list[str], claims_param: dict[str, Any], allowed: list[str]) -> tuple[list, list]:
    """(essential, voluntary) claim names; claims the client may not ask for are dropped."""
    essential: list[str] = []
    voluntary: list[str] = []
    for name, spec in (claims_param.get("userinfo") or {}).items():
        if name not in allowed:
            continue
        (essential if isinstance(spec, dict) and spec.get("essential") is True else voluntary).append(name)
    for scope in scopes:
        for name in SCOPE_CLAIMS.get(scope, []):
            if name in allowed and name not in essential and name not in voluntary:
                voluntary.append(name)
    return essential, voluntary


def resolve_acrs(acr_values: str | None, claims_param: dict[str, Any], client_acrs: list[str]) -> list[str]:
    """Acceptable acr values in order of preference: requested ones the client and we support."""
    requested = (acr_values or "").split()
    acr_claim = (claims_param.get("id_token") or {}).get("acr")
    if isinstance(acr_claim, dict):
        requested += acr_claim.get("values") or ([acr_claim["value"]] if acr_claim.get("value") else [])
    candidates = requested or client_acrs
    return [a for a in dict.fromkeys(candidates) if a in client_acrs and a in ACR_FACTORS]
