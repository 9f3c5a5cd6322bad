"""Credential management: share an SD-JWT VC, the personalised card (PDF), block and unblock factors, updates.

Who may do what is checked by the callers (credentials/views.py, credentials/portal.py); every operation here
records an event in the resident's service history and a notice to the resident's inbox.
"""

from __future__ import annotations

import io
import re
from datetime import datetime
from typing import Any

import segno
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.clock import iso, utcnow
from services.identity.credentials import events, sdjwt
from services.identity.credentials.envelope import CredentialError
from services.identity.enrollment.fields import SIMPLE
from services.identity.identities import factors
from services.identity.identities.models import Identity, Vid
from services.identity.identities.service import active_vids
from services.identity.notifications.service import notify
from services.identity.security import Secrets
from services.identity.settings import IdentitySettings
from services.identity.signing.keyring import Keyring

SHAREABLE = ("name", "given_name", "family_name", "gender", "birthdate", "email", "phone_number", "address")
ATTRIBUTE_NAMES = {alias: claim for claim, aliases in SIMPLE.items() for alias in (claim, *aliases)} | {
    "address": "address",
    "fullAddress": "address",
}
LABELS = {
    "name": "Full name",
    "given_name": "Given name",
    "family_name": "Family name",
    "gender": "Gender",
    "birthdate": "Date of birth",
    "email": "Email address",
    "phone_number": "Phone number",
    "address": "Address",
}
PURPOSE = re.compile(r"^[\r\nA-Za-z0-9 .,'\-]{0,256}$")  # the spec's pattern
PARTNER = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
DATE_FORMAT = re.compile(r"^(?:YYYY|MM|DD|[-/. ])+$")
DOT = "\u2022"


def vct(settings: IdentitySettings) -> str:
    return f"{settings.base_url.rstrip('/')}/credentials/national-id"


# -- attributes --------------------------------------------------------------------------------------------


def claim_name(attribute: Any) -> str:
    name = ATTRIBUTE_NAMES.get(attribute) if isinstance(attribute, str) else None
    if name not in SHAREABLE:
        raise CredentialError(400, "invalid_input", f"unknown attribute {attribute!r}; use one of {list(SHAREABLE)}")
    return name


def masked(value: Any) -> Any:
    """All but the last two characters hidden (`+999 76609 9064` -> `••••••••••••64`)."""
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    text = str(value)
    return DOT * max(len(text) - 2, 1) + text[-2:] if len(text) > 2 else DOT * len(text)


def formatted(claim: str, value: Any, fmt: Any) -> Any:
    """A date in the asked format (`YYYY` shares the year only; `DDMMYYYY`, `YYYY-MM-DD`); others unchanged."""
    if fmt in (None, "") or claim != "birthdate":
        return value
    if not isinstance(fmt, str) or not DATE_FORMAT.fullmatch(fmt):
        raise CredentialError(400, "invalid_input", "format of a date: YYYY, MM, DD and - / . or space")
    year, month, day = str(value).split("-")
    return fmt.replace("YYYY", year).replace("MM", month).replace("DD", day)


def chosen_claims(identity: Identity, sharable: Any) -> dict[str, Any]:
    """The claims of `sharableAttributes` ([{attributeName, format, isMasked}]) with the resident's values."""
    if not isinstance(sharable, list) or not sharable or not all(isinstance(a, dict) for a in sharable):
        raise CredentialError(400, "invalid_input", "sharableAttributes must be a non-empty list of objects")
    attributes = identity.attributes or {}
    claims: dict[str, Any] = {}
    for item in sharable:
        claim = claim_name(item.get("attributeName"))
        if attributes.get(claim) in (None, ""):
            raise CredentialError(400, "attribute_not_available", f"the identity has no {claim}")
        value = formatted(claim, attributes[claim], item.get("format"))
        claims[claim] = masked(value) if item.get("isMasked") is True else value
    return claims


# -- share -------------------------------------------------------------------------------------------------


def share(
    session: Session,
    settings: IdentitySettings,
    secrets_: Secrets,
    keyring: Keyring,
    identity: Identity,
    request: dict[str, Any],
    actor: str,
) -> tuple[str, str, list[str]]:
    """Issue an SD-JWT VC of the chosen attributes for a partner; returns (event id, credential, claims)."""
    partner = request.get("partnerId")
    if not isinstance(partner, str) or not PARTNER.fullmatch(partner):
        raise CredentialError(400, "invalid_input", "partnerId must be 1 to 64 letters, digits or . _ : -")
    purpose = request.get("purpose") or ""
    if not isinstance(purpose, str) or not PURPOSE.fullmatch(purpose):
        raise CredentialError(400, "invalid_input", "purpose: at most 256 letters, digits, spaces and .,'-")
    if not isinstance(request.get("consent"), str) or request["consent"].strip().lower() != "accepted":
        raise CredentialError(400, "consent_not_accepted", "the resident's consent must be Accepted")
    claims = chosen_claims(identity, request.get("sharableAttributes"))
    credential, _ = sdjwt.issue(
        keyring,
        issuer=settings.base_url.rstrip("/"),
        vct=vct(settings),
        subject=secrets_.psut(identity.uin, partner),  # the resident as this partner knows them
        claims=claims,
        days=settings.credential_days,
    )
    names = ", ".join(LABELS[c] for c in claims)
    event = events.record(
        session,
        identity.id,
        "SHARE_CRED_WITH_PARTNER",
        f"Credential shared with {partner}",
        actor=actor,
        info={"partnerId": partner, "purpose": purpose, "attributeList": ",".join(claims)},
    )
    notify(
        session,
        identity,
        "credential_shared",
        "You shared a credential",
        f"A credential with your {names} was issued for {partner} (event {event.event_id}). If this was not you, "
        "contact the identity authority.",
    )
    return event.event_id, credential, list(claims)


# -- factors -----------------------------------------------------------------------------------------------


def factor_list(value: Any) -> list[str]:
    """`authFactors` (extension): a list of OTP, PIN, WLA; absent means all of them."""
    if value is None:
        return list(factors.FACTORS)
    if not isinstance(value, list) or not value or not set(value) <= set(factors.FACTORS):
        raise CredentialError(400, "invalid_input", f"authFactors must be a non-empty subset of {factors.FACTORS}")
    return list(dict.fromkeys(value))


def expiry(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        until = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise CredentialError(400, "invalid_input", "expiryTimestamp must be an ISO 8601 time") from None
    if until.tzinfo is None or until <= utcnow():
        raise CredentialError(400, "invalid_input", "expiryTimestamp must be a future time with a zone")
    return until


def block(
    session: Session, identity: Identity, chosen: list[str], *, blocked: bool, until: datetime | None, actor: str
) -> dict[str, str | None]:
    now_blocked = factors.set_blocked(session, identity, chosen, block=blocked, until=until, actor=actor)
    words = ", ".join(factors.FACTOR_NAMES[f] for f in chosen)
    verb = "blocked" if blocked else "unblocked"
    events.record(
        session,
        identity.id,
        "AUTH_TYPE_LOCK_UNLOCK",
        f"Login factors {verb}: {words}",
        actor=actor,
        info={
            "authTypes": chosen,
            "status": verb.upper(),
            "expiryTimestamp": iso(until, "milliseconds") if until else None,
        },
    )
    notify(
        session,
        identity,
        f"factor_{verb}",
        f"Login factors {verb}",
        f"Login with your {words} was {verb}"
        + (f" until {iso(until, 'milliseconds')}" if until else "")
        + f" (by {actor}).",
    )
    return now_blocked


# -- lookups -----------------------------------------------------------------------------------------------


def any_identity(session: Session, individual_id: Any) -> Identity | None:
    """The identity a UIN or VID names, active or not (the administrator may reactivate it)."""
    if not isinstance(individual_id, str) or not re.fullmatch(r"[A-Za-z0-9-]{1,64}", individual_id):
        return None
    vid = session.get(Vid, individual_id)
    if vid is not None:
        return session.get(Identity, vid.identity_id) if vid.revoked_at is None else None
    return session.scalar(select(Identity).where(Identity.uin == individual_id))


def shown_id(session: Session, identity: Identity) -> str:
    """The id a resident knows themselves by: a VID (never the UIN)."""
    vids = active_vids(session, identity)
    return vids[0] if vids else ""


# -- the personalised card ---------------------------------------------------------------------------------


def card_pdf(
    session: Session,
    settings: IdentitySettings,
    secrets_: Secrets,
    keyring: Keyring,
    identity: Identity,
    chosen: list[str],
    actor: str,
) -> tuple[str, bytes]:
    """A one-page card with the chosen attributes and, in a QR code, the same attributes as an SD-JWT VC."""
    attributes = identity.attributes or {}
    claims = {c: attributes[c] for c in (claim_name(a) for a in chosen) if attributes.get(c) not in (None, "")}
    if not claims:
        raise CredentialError(400, "invalid_input", "choose at least one attribute the identity has")
    credential, _ = sdjwt.issue(
        keyring,
        issuer=settings.base_url.rstrip("/"),
        vct=vct(settings),
        subject=secrets_.psut(identity.uin, "personalized-card"),
        claims=claims,
        days=settings.credential_days,
    )
    from fpdf import FPDF  # here, not at import: it brings Pillow and fontTools (a quarter second at start)

    pdf = FPDF(format=(105, 148), orientation="landscape")  # A6
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 8, _latin(settings.provider_name), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    pdf.cell(0, 6, f"National ID card  -  VID {shown_id(session, identity)}", new_x="LMARGIN", new_y="NEXT")
    for claim, value in claims.items():
        text = ", ".join(str(v) for v in value.values()) if isinstance(value, dict) else str(value)
        pdf.cell(0, 5.5, _latin(f"{LABELS[claim]}: {text}"), new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 5.5, f"Issued {utcnow().date().isoformat()}", new_x="LMARGIN", new_y="NEXT")
    qr = io.BytesIO()
    segno.make(credential, error="l").save(qr, kind="png", scale=2, border=1)
    qr.seek(0)
    pdf.image(qr, x=pdf.w - 52, y=pdf.h - 52, w=46, h=46)
    event = events.record(
        session,
        identity.id,
        "DOWNLOAD_PERSONALIZED_CARD",
        "Personalised card downloaded",
        actor=actor,
        info={"attributeList": ",".join(claims)},
    )
    return event.event_id, bytes(pdf.output())


def _latin(text: str) -> str:
    """The card's core font is Latin-1: other characters become `?` rather than failing."""
    return text.encode("latin-1", "replace").decode("latin-1")
