"""The issued permit: its facts sealed with the municipality's Ed25519 key (a compact JWS), a short
verification code derived from the seal, and the PDF. Anyone checks a permit on the public /verify page
(number + code, or the QR code) or offline against the key published at /.well-known/jwks.json."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import unicodedata
from dataclasses import asdict, dataclass, fields
from datetime import datetime

import segno
from joserfc import jws
from joserfc.jwk import OKPKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.clock import utcnow
from services.common.keys import load_or_create_ed25519

from . import rules
from .models import Application, Clearance, Party, new_public_id
from .settings import ConstructionPermitSettings

KEY_NAME = "permit-seal"


class InvalidSeal(Exception):
    pass


@dataclass(frozen=True)
class PermitFacts:
    permit_number: str
    application_id: str
    parcel_id: str
    parcel_address: str
    owner_name: str
    applicant_name: str
    building_type: str
    floor_area_m2: float
    fee_paid: int
    bill_id: str
    clearances: tuple[str, ...]
    signed_by: str
    issued_at: str
    municipality: str


def seal_key(settings: ConstructionPermitSettings) -> OKPKey:
    return load_or_create_ed25519(settings.keys_dir, KEY_NAME)


def public_jwks(settings: ConstructionPermitSettings) -> dict:
    return {"keys": [seal_key(settings).as_dict(private=False)]}


def seal(facts: PermitFacts, key: OKPKey) -> str:
    payload = json.dumps(asdict(facts), sort_keys=True, ensure_ascii=False).encode()
    return jws.serialize_compact(
        {"alg": "Ed25519", "kid": key.kid, "typ": "permit+jws"}, payload, key, algorithms=["Ed25519"]
    )


def open_seal(token: str, key: OKPKey) -> PermitFacts:
    """The sealed facts if the signature holds; InvalidSeal for anything tampered, foreign or malformed."""
    try:
        compact = jws.deserialize_compact(token.strip(), key, algorithms=["Ed25519"])
        data = json.loads(compact.payload)
        data["clearances"] = tuple(data["clearances"])
        return PermitFacts(**{f.name: data[f.name] for f in fields(PermitFacts)})
    except Exception as exc:  # every failure means "not a permit we sealed"
        raise InvalidSeal("the permit's seal does not verify") from exc


def verification_code(token: str) -> str:
    """16 characters of base32(SHA-256(seal)), grouped by four: short enough to type from paper."""
    raw = base64.b32encode(hashlib.sha256(token.encode()).digest()).decode()[:16]
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


# Base32 has the letters O and I but no digits 0 and 1: a code typed with the look-alike digit still matches.
_LOOK_ALIKES = str.maketrans({"0": "O", "1": "I"})


def normalized_code(code: str) -> str:
    raw = "".join(ch for ch in code.upper().translate(_LOOK_ALIKES) if ch.isalnum())
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def facts_for(
    session: Session, settings: ConstructionPermitSettings, application: Application, signed_by: str, permit_number: str
) -> PermitFacts:
    parcel = rules.parcels()[application.parcel_id]
    owner = session.scalars(select(Party).where(Party.application_id == application.id, Party.role == "owner")).one()
    granted = session.scalars(
        select(Clearance.authority).where(Clearance.application_id == application.id, Clearance.status == "granted")
    ).all()
    return PermitFacts(
        permit_number=permit_number,
        application_id=application.id,
        parcel_id=parcel.id,
        parcel_address=parcel.address,
        owner_name=owner.name,
        applicant_name=application.applicant_name,
        building_type=rules.building_types()[application.building_type].label,
        floor_area_m2=application.floor_area_m2,
        fee_paid=application.fee or 0,
        bill_id=application.bill_id or "",
        clearances=tuple(sorted(granted)),
        signed_by=signed_by,
        issued_at=utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
        municipality=settings.municipality,
    )


def issue(session: Session, settings: ConstructionPermitSettings, application: Application, signed_by: str) -> None:
    number = new_public_id(f"CP-{utcnow().year}-")
    token = seal(facts_for(session, settings, application, signed_by, number), seal_key(settings))
    application.permit_number, application.permit_seal = number, token
    application.permit_code = verification_code(token)


def check(session: Session, settings: ConstructionPermitSettings, number: str, code: str) -> PermitFacts | None:
    """The sealed facts of an issued permit when the number and code match it and its seal verifies."""
    application = session.scalars(
        select(Application).where(Application.permit_number == number.strip().upper())
    ).first()
    if application is None or not application.permit_code or not application.permit_seal:
        return None
    if not hmac.compare_digest(normalized_code(code), application.permit_code):
        return None
    try:
        facts = open_seal(application.permit_seal, seal_key(settings))
    except InvalidSeal:
        return None
    return facts if facts.permit_number == application.permit_number else None


def verify_url(settings: ConstructionPermitSettings, number: str, code: str) -> str:
    return f"{settings.base_url.rstrip('/')}/verify?permit={number}&code={code}"


# The PDF ----------------------------------------------------------------------------------------------------


def _latin1(text: object) -> str:
    """The PDF core fonts are latin-1: anything else becomes its closest plain form or '?'."""
    value = unicodedata.normalize("NFKD", str(text))
    return "".join(ch for ch in value if not unicodedata.combining(ch)).encode("latin-1", "replace").decode("latin-1")


def render_pdf(facts: PermitFacts, code: str, url: str) -> bytes:
    from fpdf import FPDF  # imported on the first permit: fpdf and fontTools would hold 20 MB in the idle process

    pdf = FPDF(format="A4")
    pdf.set_creation_date(datetime.fromisoformat(facts.issued_at.replace("Z", "+00:00")))
    pdf.set_title(f"Construction permit {facts.permit_number}")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 8, _latin1(facts.municipality), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "B", 22)
    pdf.cell(0, 14, "Construction permit", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 12)
    pdf.cell(0, 8, f"No. {facts.permit_number}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    rows = [
        ("Application", facts.application_id),
        ("Parcel", f"{facts.parcel_id}, {facts.parcel_address}"),
        ("Owner", facts.owner_name),
        ("Applicant", facts.applicant_name),
        ("Building", facts.building_type),
        ("Gross floor area", f"{facts.floor_area_m2:g} m2"),
        ("Fee paid", f"{facts.fee_paid} USD (bill {facts.bill_id})"),
        ("Clearances", ", ".join(c.replace("_", " ") for c in facts.clearances) or "none required"),
        ("Issued", facts.issued_at.replace("T", " ").replace("Z", " UTC")),
    ]
    with pdf.table(col_widths=(45, 135), text_align="LEFT", first_row_as_headings=False) as table:
        for label, value in rows:
            row = table.row()
            row.cell(label)
            row.cell(_latin1(value))
    pdf.ln(6)
    pdf.multi_cell(
        0,
        7,
        _latin1(f"Signed electronically by {facts.signed_by}, Mayor, on {facts.issued_at[:10]}."),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(4)
    pdf.set_font("Helvetica", "", 11)
    pdf.cell(0, 7, "Verification code", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Courier", "B", 20)
    pdf.cell(0, 12, code, new_x="LMARGIN", new_y="NEXT")
    qr = io.BytesIO()
    segno.make(url, error="m").save(qr, kind="png", scale=6, border=2)
    qr.seek(0)
    pdf.image(qr, x=pdf.l_margin, y=pdf.get_y() + 2, w=45)
    pdf.set_y(-30)
    pdf.set_font("Helvetica", "", 9)
    pdf.multi_cell(0, 5, _latin1(f"Check this permit at {url}"))
    return bytes(pdf.output())
