"""`PUT /enrollment`: single-step or multi-step enrollment creating or updating an identity."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.clock import iso, utcnow
from services.common.errors import ErrorRenderer
from services.identity.enrollment import fields as fields_
from services.identity.enrollment.models import Enrollment
from services.identity.errors import IdentityError
from services.identity.identities import service as identities
from services.identity.identities.models import Identity
from services.identity.security import hash_pin
from services.identity.signing.keyring import Keyring

PROCESSES = {"NEW", "UPDATE"}
PIN_FIELD = "pin"
PASSWORD_FIELD = "password"  # the alphanumeric knowledge factor
PASSWORD = re.compile(r"[A-Za-z0-9]{8,128}")
DUPLICATE_EMAIL = "duplicate_email"


class EnrollmentError(IdentityError):
    """A refused enrollment, answered in the enrollmentResponse that echoes the request's id and version."""

    payload: Any = None

    def response(self, request: Request, render: ErrorRenderer) -> Response:
        payload = self.payload if isinstance(self.payload, dict) else {}
        body = envelope(payload, None, [{"errorCode": self.code, "message": self.message}])
        return JSONResponse(body, status_code=self.status_code)


def envelope(payload: dict, response: list | None, errors: list[dict]) -> dict:
    """enrollment.yaml's enrollmentResponse. Its `response` (an array) and `metaData` (an object) are not
    nullable: an error answer omits `response`, and there is no metadata to send."""
    body = {
        "id": payload.get("id") if isinstance(payload.get("id"), str) else "govstack.enrollment",
        "version": payload.get("version") if isinstance(payload.get("version"), str) else "v1",
        "responsetime": iso(utcnow(), "milliseconds"),
    }
    if response is not None:
        body["response"] = response
    return {**body, "errors": errors}


def _validated(request: Any) -> tuple[str, str, dict]:
    if not isinstance(request, dict):
        raise EnrollmentError("invalid_request", "request object is required")
    enrollment_id = request.get("id")
    if not isinstance(enrollment_id, str) or not 1 <= len(enrollment_id) <= 64:
        raise EnrollmentError("invalid_request", "request.id (the enrollment id) is required, 1 to 64 characters")
    process = request.get("process") or "NEW"
    if process not in PROCESSES:
        raise EnrollmentError("invalid_process", f"process must be one of {sorted(PROCESSES)}")
    fields = request.get("fields") or {}
    if not isinstance(fields, dict):
        raise EnrollmentError("invalid_request", "request.fields must be an object")
    if not isinstance(request.get("finalize", True), bool):
        raise EnrollmentError("invalid_request", "request.finalize must be a boolean")
    return enrollment_id, process, fields


def _packet(keyring: Keyring, enrollment: Enrollment, status: str, vid: str | None) -> dict:
    digest = hashlib.sha256(
        json.dumps(
            {k: v for k, v in enrollment.fields.items() if not k.startswith("__")}, sort_keys=True, default=str
        ).encode()
    ).hexdigest()
    item = {
        "id": enrollment.id,
        "packetName": f"{enrollment.id}-{enrollment.process}",
        "source": enrollment.source,
        "process": enrollment.process,
        "refId": enrollment.ref_id,
        "schemaVersion": "1.0",
        "signature": keyring.sign({"id": enrollment.id, "hash": digest}),
        "encryptedHash": digest,
        "providerName": "GovStack Sandbox Identity",
        "providerVersion": "1.0",
        "creationDate": iso(enrollment.created_at, "milliseconds"),
        "status": status,
    }
    if vid:
        item["vid"] = vid
    return item


def enroll(session: Session, keyring: Keyring, payload: Any, caller: str) -> tuple[int, dict]:
    """Apply one enrollment step; returns (HTTP status, body). A retry of a finished one replays its answer."""
    try:
        return _enroll(session, keyring, payload, caller)
    except EnrollmentError as exc:
        exc.payload = payload
        raise


def _enroll(session: Session, keyring: Keyring, payload: Any, caller: str) -> tuple[int, dict]:
    if not isinstance(payload, dict):
        raise EnrollmentError("invalid_request", "body must be a JSON object")
    request = payload.get("request")
    enrollment_id, process, fields = _validated(request)
    enrollment = session.get(Enrollment, enrollment_id, with_for_update=True)
    if enrollment is not None and enrollment.status == "finalized":
        return enrollment.response_status or 200, enrollment.response
    try:
        fields_.attributes(fields)  # validate this step's fields before storing anything
        fields_.aliases(fields)
    except fields_.FieldError as exc:
        raise EnrollmentError("invalid_field", str(exc)) from None
    pin = fields.pop(PIN_FIELD, None)
    if pin is not None and (not isinstance(pin, str) or not pin.isdigit() or not 4 <= len(pin) <= 12):
        raise EnrollmentError("invalid_field", "pin must be 4 to 12 digits")
    password = fields.pop(PASSWORD_FIELD, None)
    if password is not None and (not isinstance(password, str) or not PASSWORD.fullmatch(password)):
        raise EnrollmentError("invalid_field", "password must be 8 to 128 letters and digits")
    if enrollment is None:
        enrollment = Enrollment(id=enrollment_id, process=process, fields={}, status="pending", caller=caller)
        session.add(enrollment)
    elif enrollment.process != process:
        raise EnrollmentError("invalid_process", "process cannot change between steps of one enrollment")
    merged = {**enrollment.fields, **fields}
    if pin is not None:
        merged["__pin_hash"] = hash_pin(pin)
    if password is not None:
        merged["__password_hash"] = hash_pin(password)
    enrollment.fields = merged
    enrollment.ref_id = request.get("refId") or enrollment.ref_id
    enrollment.source = request.get("source") or enrollment.source
    enrollment.updated_at = utcnow()
    if not request.get("finalize", True):
        session.flush()
        return 200, envelope(payload, [_packet(keyring, enrollment, "PENDING", None)], [])
    status, vid = _finalize(session, enrollment, caller)
    body = envelope(payload, [_packet(keyring, enrollment, "PROCESSED", vid)], [])
    enrollment.status = "finalized"
    enrollment.response, enrollment.response_status = body, status
    return status, body


def _refuse_taken_email(session: Session, attributes: dict, identity: Identity | None) -> None:
    """An e-mail address identifies at most one resident: another resident's address is refused."""
    owner = identities.email_owner(session, attributes.get("email"))
    if owner is not None and owner is not identity:
        raise EnrollmentError(DUPLICATE_EMAIL, "this e-mail address belongs to another resident", 409)


@contextmanager
def _email_race() -> Iterator[None]:
    """A concurrent enrollment that took the address first trips the unique constraint."""
    try:
        yield
    except IntegrityError:
        raise EnrollmentError(DUPLICATE_EMAIL, "this e-mail address belongs to another resident", 409) from None


def _finalize(session: Session, enrollment: Enrollment, caller: str) -> tuple[int, str | None]:
    fields = dict(enrollment.fields)
    pin_hash = fields.pop("__pin_hash", None)
    password_hash = fields.pop("__password_hash", None)
    try:
        attributes = fields_.attributes(fields)
        alias_values = fields_.aliases(fields)
    except fields_.FieldError as exc:
        raise EnrollmentError("invalid_field", str(exc)) from None
    source = f"enrollment:{enrollment.id}"
    if enrollment.process == "NEW":
        missing = [n for n in ("name", "birthdate") if n not in attributes]
        if missing:
            raise EnrollmentError("missing_field", f"a new identity needs {missing}")
        _refuse_taken_email(session, attributes, None)
        with _email_race():
            identity, vid = identities.create_identity(session, attributes, source=source, actor=caller)
        status = 201
    else:
        identity = identities.find_by_individual_id(session, fields_.identifier(fields))
        if identity is None:
            raise EnrollmentError("invalid_identifier", "UIN/VID of the identity to update is unknown", 404)
        _refuse_taken_email(session, attributes, identity)
        with _email_race():
            identities.update_identity(session, identity, attributes, source=source, actor=caller)
            session.flush()
        vid, status = None, 200
    if pin_hash:
        identity.pin_hash = pin_hash
    if password_hash:
        identity.password_hash = password_hash
    if alias_values:
        identities.add_aliases(session, identity, "name", alias_values, source=source)
    enrollment.identity_id = identity.id
    return status, vid
