"""Yes/no identity verification (spec 6.1): predicates over an identity, answered with booleans only."""

from __future__ import annotations

import hmac
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.clock import iso, utcnow
from services.identity.errors import IdentityError
from services.identity.identities import service as identities
from services.identity.identities.models import Identity
from services.identity.security import Secrets
from services.identity.verification import audit
from services.identity.verification.models import VerificationRecord


class VerificationError(IdentityError):
    def __init__(self, message: str):
        super().__init__("invalid_request", message)


def normalized(text: Any) -> str:
    """Case-, accent- and spacing-insensitive form of a name or value."""
    decomposed = unicodedata.normalize("NFKD", str(text))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().replace("-", " ").split())


def _age_bound(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 150:
        raise VerificationError("age predicates need an integer between 0 and 150")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 256:
        raise VerificationError("this predicate needs a non-empty text value")
    return value


def _date(value: Any) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise VerificationError("birthdate_equals needs a date YYYY-MM-DD") from None


def _names(session: Session, identity: Identity) -> set[str]:
    a = identity.attributes or {}
    names = {a.get("name"), " ".join(p for p in (a.get("given_name"), a.get("family_name")) if p)}
    names |= set(identities.aliases(session, identity, "name"))
    return {normalized(n) for n in names if n}


def _subject(value: Any) -> tuple[str, str]:
    if not isinstance(value, dict):
        raise VerificationError('subject_matches needs {"clientId": ..., "sub": ...}')
    client_id, sub = value.get("clientId"), value.get("sub")
    if not isinstance(client_id, str) or not 1 <= len(client_id) <= 50 or not isinstance(sub, str):
        raise VerificationError("subject_matches needs a clientId (1 to 50 characters) and a sub")
    if not 1 <= len(sub) <= 128:
        raise VerificationError("subject_matches needs a sub of 1 to 128 characters")
    return client_id, sub


def _digits(value: Any) -> str:
    return "".join(ch for ch in str(value or "") if ch.isdigit())


@dataclass(frozen=True)
class Asked:
    """What a predicate may consult besides the identity."""

    session: Session
    secrets: Secrets
    today: date


PREDICATES = {
    # name: (value check, answer(asked, identity, value))
    "exists": (lambda v: None, lambda a, i, v: True),
    "age_over": (
        _age_bound,
        lambda a, i, v: (identities.age_on((i.attributes or {}).get("birthdate"), a.today) or -1) >= v,
    ),
    "age_under": (
        _age_bound,
        lambda a, i, v: (identities.age_on((i.attributes or {}).get("birthdate"), a.today) or 10**3) < v,
    ),
    "name_matches": (_text, lambda a, i, v: normalized(v) in _names(a.session, i)),
    "birthdate_equals": (_date, lambda a, i, v: (i.attributes or {}).get("birthdate") == v.isoformat()),
    "gender_equals": (_text, lambda a, i, v: normalized((i.attributes or {}).get("gender", "")) == normalized(v)),
    "phone_matches": (
        _text,
        lambda a, i, v: bool(_digits(v)) and _digits((i.attributes or {}).get("phone_number")) == _digits(v),
    ),
    "email_matches": (_text, lambda a, i, v: normalized((i.attributes or {}).get("email", "")) == normalized(v)),
    "locality_equals": (
        _text,
        lambda a, i, v: normalized(((i.attributes or {}).get("address") or {}).get("locality", "")) == normalized(v),
    ),
    # The person behind the VID/UIN is the one a client knows by this pairwise subject (its `sub` claim):
    # how a relying party links a login to a record it holds, without e-mail or the UIN leaving Identity.
    "subject_matches": (
        _subject,
        lambda a, i, v: hmac.compare_digest(a.secrets.psut(i.uin, v[0]), v[1]),
    ),
}


def parse(payload: Any) -> tuple[str, str, list[tuple[str, Any]]]:
    if not isinstance(payload, dict):
        raise VerificationError("body must be a JSON object")
    request_id, individual_id, predicates = (
        payload.get("requestId"),
        payload.get("individualId"),
        payload.get("predicates"),
    )
    if not isinstance(request_id, str) or not 1 <= len(request_id) <= 128:
        raise VerificationError("requestId is required (1 to 128 characters)")
    if not isinstance(individual_id, str) or not individual_id.strip():
        raise VerificationError("individualId (VID or UIN) is required")
    if not isinstance(predicates, list) or not 1 <= len(predicates) <= 20:
        raise VerificationError("predicates must be a list of 1 to 20 {type, value} objects")
    parsed = []
    for item in predicates:
        kind = item.get("type") if isinstance(item, dict) else None
        if kind not in PREDICATES:
            raise VerificationError(f"unknown predicate type; supported: {sorted(PREDICATES)}")
        check, _ = PREDICATES[kind]
        value = item.get("value")
        parsed.append((kind, check(value) if kind != "exists" else None))
    return request_id, individual_id.strip(), parsed


def canonical(value: Any) -> str:
    """One form per question, so that rephrasing it (case, spacing) does not make it a new one."""
    if value is None:
        return ""
    if isinstance(value, tuple):
        return "\x00".join(value)
    return normalized(value) if isinstance(value, str) else str(value)


def verify(
    session: Session,
    caller: str,
    payload: Any,
    *,
    secrets_: Secrets,
    quota: int,
    today: date | None = None,
) -> dict:
    """Answer the predicates; raises `audit.QuotaExceeded` when the caller asked too much about this person."""
    request_id, individual_id, predicates = parse(payload)
    earlier = session.scalar(
        select(VerificationRecord).where(
            VerificationRecord.caller == caller, VerificationRecord.request_id == request_id
        )
    )
    if earlier is not None:
        return earlier.response
    today = today or date.today()
    identity = identities.find_by_individual_id(session, individual_id)
    questions = [(kind, canonical(value)) for kind, value in predicates]
    audit.admit(session, secrets_, quota, caller, identity, request_id, questions)
    asked = Asked(session, secrets_, today)
    results = [
        {"type": kind, "result": bool(identity is not None and PREDICATES[kind][1](asked, identity, value))}
        for kind, value in predicates
    ]
    response = {
        "requestId": request_id,
        "verified": all(r["result"] for r in results),
        "results": results,
        "responseTime": iso(utcnow(), "milliseconds"),
    }
    try:
        with session.begin_nested():
            session.add(
                VerificationRecord(
                    request_id=request_id,
                    caller=caller,
                    identity_id=identity.id if identity else None,
                    predicates=[kind for kind, _ in predicates],
                    response=response,
                    verified=response["verified"],
                )
            )
    except IntegrityError:  # a concurrent retry recorded it first: answer what it answered
        return session.scalar(
            select(VerificationRecord.response).where(
                VerificationRecord.caller == caller, VerificationRecord.request_id == request_id
            )
        )
    return response
