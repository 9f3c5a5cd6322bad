"""The permit's seal, verification code and PDF; a tampered permit fails verification."""

from __future__ import annotations

import base64
import json
import re
import zlib
from dataclasses import replace

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, OKPKey, RSAKey

from services.common.database import Database
from services.common.keys import load_or_create_ed25519
from usecases.construction_permit import permit
from usecases.construction_permit.app import HERE
from usecases.construction_permit.models import Application
from usecases.construction_permit.settings import ConstructionPermitSettings, load_settings

FACTS = permit.PermitFacts(
    permit_number="CP-2026-ABCDEFGH",
    application_id="APP-TEST0001",
    parcel_id="SBX-0101-0042",
    parcel_address="12 Harbour Road, Sandbox City",
    owner_name="Zoë Ŝmith",
    applicant_name="Elias Lind",
    building_type="Apartment building",
    floor_area_m2=420.0,
    fee_paid=1240,
    bill_id="MSC-ABCDEFGHIJKL",
    clearances=("civil_protection", "utilities"),
    signed_by="Esther Osei",
    issued_at="2026-11-22T10:00:00Z",
    municipality="Municipality of Sandbox City",
)


@pytest.fixture
def key(tmp_path) -> OKPKey:
    return load_or_create_ed25519(tmp_path, permit.KEY_NAME)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_the_seal_round_trips_and_names_its_key(key):
    token = permit.seal(FACTS, key)
    assert permit.open_seal(token, key) == FACTS
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["kid"] == key.kid and header["alg"] == "Ed25519"


def test_a_tampered_foreign_or_malformed_seal_is_refused(key, tmp_path):
    token = permit.seal(FACTS, key)
    header, _, signature = token.split(".")
    richer = json.dumps({**json.loads(json.dumps(FACTS.__dict__)), "fee_paid": 1}).encode()
    other = load_or_create_ed25519(tmp_path / "other", permit.KEY_NAME)
    rsa = RSAKey.generate_key(2048)
    for bad in (
        f"{header}.{_b64(richer)}.{signature}",
        permit.seal(FACTS, other),
        "garbage",
        "a.b.c",
        jwt.encode({"alg": "RS256"}, {"permit_number": "x"}, rsa),
        jwt.encode({"alg": "HS256"}, {"permit_number": "x"}, OctKey.import_key("secret" * 8)),
    ):
        with pytest.raises(permit.InvalidSeal):
            permit.open_seal(bad, key)


def test_the_verification_code_is_short_stable_and_tied_to_the_seal(key):
    token = permit.seal(FACTS, key)
    code = permit.verification_code(token)
    assert len(code) == 19 and code.count("-") == 3 and code == permit.verification_code(token)
    assert permit.verification_code(permit.seal(replace(FACTS, fee_paid=1241), key)) != code
    assert permit.normalized_code(code.lower().replace("-", " ")) == code


def test_a_code_typed_with_look_alike_digits_or_in_lower_case_still_matches():
    assert permit.normalized_code("abo0-1ix2 3456 7OIQ") == "ABOO-IIX2-3456-7OIQ"


def test_the_pdf_is_deterministic_and_latin1_safe(key):
    token = permit.seal(FACTS, key)
    pdf = permit.render_pdf(FACTS, permit.verification_code(token), "http://city.test/verify?permit=x&code=y")
    assert pdf.startswith(b"%PDF") and pdf == permit.render_pdf(
        FACTS, permit.verification_code(token), "http://city.test/verify?permit=x&code=y"
    )


def _pdf_text(pdf: bytes) -> bytes:
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S)
    return b"".join(zlib.decompress(s) if s.startswith(b"x") else s for s in streams)


@pytest.mark.parametrize("variable", ["CONSTRUCTION_PERMIT_PUBLIC_URL", "SANDBOX_CONSTRUCTION_PERMIT_URL"])
def test_the_qr_code_points_at_the_public_url_not_at_loopback(variable, monkeypatch, key):
    """Issue 25: served on the network (all interfaces), the permit's QR code and link use the public URL
    (the service's own, else the browser URL a deployment gives every service), which a phone can open."""
    for name in ("CONSTRUCTION_PERMIT_PUBLIC_URL", "SANDBOX_CONSTRUCTION_PERMIT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CONSTRUCTION_PERMIT_HOST", "0.0.0.0")
    assert "127.0.0.1" in permit.verify_url(load_settings(), "CP-1", "C")  # nothing said: loopback
    monkeypatch.setenv(variable, "http://192.0.2.7:8102")
    url = permit.verify_url(load_settings(), FACTS.permit_number, "ABCD-EFGH-JKLM-NPQR")
    assert url == f"http://192.0.2.7:8102/verify?permit={FACTS.permit_number}&code=ABCD-EFGH-JKLM-NPQR"
    pdf = permit.render_pdf(FACTS, "ABCD-EFGH-JKLM-NPQR", url)
    assert url.encode() in _pdf_text(pdf) and b"127.0.0.1" not in _pdf_text(pdf)


def test_check_refuses_a_wrong_code_and_a_tampered_stored_seal(db_fields, tmp_path):
    settings = ConstructionPermitSettings(**db_fields, data_dir=tmp_path / "permit", im_client=None)
    db = Database(*settings.resolved_database())
    db.migrate(HERE / "migrations")
    token = permit.seal(FACTS, permit.seal_key(settings))
    code = permit.verification_code(token)
    with db.session() as session:
        session.add(
            Application(
                id=FACTS.application_id,
                applicant_sub="s",
                applicant_name="Elias Lind",
                parcel_id=FACTS.parcel_id,
                building_type="apartment_building",
                floor_area_m2=420,
                visit_slots=[],
                state="issued",
                permit_number=FACTS.permit_number,
                permit_seal=token,
                permit_code=code,
            )
        )
    with db.session() as session:
        assert permit.check(session, settings, FACTS.permit_number.lower(), code.lower()) == FACTS
        assert permit.check(session, settings, FACTS.permit_number, "AAAA-AAAA-AAAA-AAAA") is None
        assert permit.check(session, settings, "CP-2026-NOPE0000", code) is None
        header, payload, signature = token.split(".")
        forged = json.loads(base64.urlsafe_b64decode(payload + "=="))
        forged["owner_name"] = "Mallory"
        session.get(
            Application, FACTS.application_id
        ).permit_seal = f"{header}.{_b64(json.dumps(forged).encode())}.{signature}"
        assert permit.check(session, settings, FACTS.permit_number, code) is None
    db.dispose()
