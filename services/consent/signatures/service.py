"""JWS signatures over revision snapshots.

A Signature's `signature` is a compact JWS (RFC 7515) whose payload is exactly the signed Revision's
`serializedSnapshot`; `verificationSignedBy` is the signer's public JWK (JSON). Anyone can verify one
with the revision and the signature alone: check `sha256(serializedSnapshot) == serializedHash`, then the
JWS with the JWK, then that the JWS payload equals the snapshot. The Consent BB signs Data Agreement
revisions with its own (the organisation's) key, published at `/.well-known/jwks.json`.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, OKPKey, RSAKey

from services.common.clock import iso, utcnow
from services.common.keys import load_or_create_ec
from services.consent.db import new_id
from services.consent.revisions.models import Revision
from services.consent.revisions.service import canonical_json, sha256_hex
from services.consent.schemas import present
from services.consent.signatures.models import Signature

METHOD = "JWS"
# The Consent BB signs with its own key on the word of the calling application (recorded in the artifact).
DELEGATED = "JWS-delegated"
ALGORITHMS = ["ES256", "ES384", "EdDSA", "RS256", "PS256"]


class InvalidSignature(ValueError):
    pass


class Signer:
    """The Consent BB's own signing key (the organisation's key for Data Agreements)."""

    def __init__(self, keys_dir: Path):
        self.key = load_or_create_ec(keys_dir, "consent-organisation")
        self.kid = self.key.thumbprint()

    def public_jwk(self) -> dict[str, Any]:
        return {**self.key.as_dict(private=False), "kid": self.kid, "use": "sig", "alg": "ES256"}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk()]}

    def sign(self, payload: str) -> str:
        return jws.serialize_compact({"alg": "ES256", "kid": self.kid}, payload.encode("utf-8"), self.key)


def import_public_jwk(signed_by: str) -> ECKey | OKPKey | RSAKey:
    try:
        data = json.loads(signed_by)
    except (TypeError, ValueError) as exc:
        raise InvalidSignature("verificationSignedBy must be the signer's public JWK as JSON") from exc
    if not isinstance(data, dict) or "d" in data or "p" in data:
        raise InvalidSignature("verificationSignedBy must be a public JWK (never send a private key)")
    try:
        return JWKRegistry.import_key(data)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise InvalidSignature(f"verificationSignedBy is not a usable JWK: {exc}") from exc


def verify_jws(token: str, signed_by: str, expected_payload: str) -> dict[str, Any]:
    """Check that `token` is a JWS by the key in `signed_by` over exactly `expected_payload`; return its header."""
    key = import_public_jwk(signed_by)
    try:
        result = jws.deserialize_compact(token, key, algorithms=ALGORITHMS)
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidSignature(f"the JWS does not verify with the given key: {type(exc).__name__}") from exc
    if result.payload != expected_payload.encode("utf-8"):
        raise InvalidSignature("the JWS payload is not the revision snapshot being signed")
    return dict(result.protected)


def verify_signature_row(signature: Signature, revision: Revision) -> None:
    """Re-verify a stored signature against the revision it claims to sign (used by the audit)."""
    if signature.verification_payload != revision.serialized_snapshot:
        raise InvalidSignature("signed payload differs from the revision snapshot")
    if signature.verification_payload_hash != revision.serialized_hash:
        raise InvalidSignature("signed payload hash differs from the revision hash")
    verify_jws(signature.signature, signature.verification_signed_by, revision.serialized_snapshot)


def final_payload(fields: dict[str, Any]) -> str:
    """The spec's `Signature.payload`: the signature's own fields as canonical JSON."""
    keys = (
        "verificationPayload",
        "verificationPayloadHash",
        "verificationMethod",
        "verificationArtifact",
        "verificationSignedBy",
        "verificationJwsHeader",
        "timestamp",
        "signedWithoutObjectReference",
        "objectType",
        "objectReference",
    )
    return canonical_json({k: fields.get(k) for k in keys})


def unsigned_for(snapshot: str, *, object_reference: str | None, timestamp: datetime | None = None) -> dict[str, Any]:
    """A Signature object (API shape, no id) ready for the signer: what to sign and how."""
    fields = {
        "id": None,
        "verificationMethod": METHOD,
        "verificationPayload": snapshot,
        "verificationPayloadHash": sha256_hex(snapshot),
        "verificationArtifact": None,
        "verificationSignedBy": "",
        "verificationSignedAs": None,
        "verificationJwsHeader": None,
        "timestamp": iso(timestamp or utcnow()),
        "signedWithoutObjectReference": object_reference is None,
        "objectType": "revision",
        "objectReference": object_reference,
        "signature": "",
    }
    fields["payload"] = final_payload(fields)
    return present(fields)


def sign_revision_as_organisation(signer: Signer, revision: Revision) -> Signature:
    snapshot = revision.serialized_snapshot
    token = signer.sign(snapshot)
    now = utcnow()
    row = Signature(
        id=new_id(),
        signature=token,
        verification_method=METHOD,
        verification_payload=snapshot,
        verification_payload_hash=revision.serialized_hash,
        verification_signed_by=canonical_json(signer.public_jwk()),
        verification_signed_as="organisation",
        verification_jws_header=canonical_json({"alg": "ES256", "kid": signer.kid}),
        timestamp=now,
        signed_without_object_reference=False,
        object_type="revision",
        object_reference=revision.id,
    )
    row.payload = final_payload(to_api(row))
    return row


def to_api(signature: Signature | None) -> dict[str, Any] | None:
    if signature is None:
        return None
    return present(
        {
            "id": signature.id,
            "payload": signature.payload,
            "signature": signature.signature,
            "verificationMethod": signature.verification_method,
            "verificationPayload": signature.verification_payload,
            "verificationPayloadHash": signature.verification_payload_hash,
            "verificationArtifact": signature.verification_artifact,
            "verificationSignedBy": signature.verification_signed_by,
            "verificationSignedAs": signature.verification_signed_as,
            "verificationJwsHeader": signature.verification_jws_header,
            "timestamp": iso(signature.timestamp),
            "signedWithoutObjectReference": signature.signed_without_object_reference,
            "objectType": signature.object_type,
            "objectReference": signature.object_reference,
        }
    )
