"""Validation of OIDC client create/update requests, one spec error code per rule."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from joserfc.jwk import RSAKey

CLAIMS = {
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "preferred_username",
    "nickname",
    "gender",
    "birthdate",
    "email",
    "email_verified",
    "phone_number",
    "phone_number_verified",
    "picture",
    "address",
    "locale",
    "zoneinfo",
}
ACRS = {
    "idbb:acr:static-code",
    "idbb:acr:generated-code",
    "idbb:acr:linked-wallet",
    "idbb:acr:biometrics",
    "idbb:acr:biometrics-generated-code",
    "idbb:acr:linked-wallet-static-code",
}
GRANT_TYPES = {"authorization_code"}
AUTH_METHODS = {"private_key_jwt"}
_PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}
ENC_KEY_MESSAGE = "encPublicKey must be a public RSA JWK (2048 bits or more)"


def _text(value: Any, low: int, high: int) -> bool:
    return isinstance(value, str) and low <= len(value.strip()) and len(value) <= high


def _uri(value: Any, *, redirect: bool = False) -> bool:
    if not isinstance(value, str) or not 1 <= len(value) <= 1024:
        return False
    parts = urlsplit(value)
    if redirect and parts.fragment:
        return False  # RFC 6749 3.1.2: no fragment in a redirection URI
    if parts.scheme in ("http", "https"):
        return bool(parts.netloc)
    return redirect and bool(parts.scheme) and "*" not in value  # app schemes (wallets, mobile)


def _list(value: Any, allowed: set[str] | None, *, unique: bool = False) -> bool:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        return False
    if unique and len(set(value)) != len(value):
        return False
    return allowed is None or set(value) <= allowed


def public_rsa_key(jwk: Any, use: str = "sig") -> dict | None:
    """The public part of an RSA JWK of at least 2048 bits, or None if unusable (private parts refused)."""
    if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or _PRIVATE_MEMBERS & jwk.keys():
        return None
    if jwk.get("use") not in (None, use):
        return None
    try:
        key = RSAKey.import_key(jwk)
    except Exception:  # noqa: BLE001 - any import failure means an invalid key
        return None
    if key.public_key.key_size < 2048:
        return None
    public = {k: v for k, v in key.as_dict(private=False).items() if k in ("kty", "n", "e", "kid", "alg", "use")}
    return public


def common_errors(request: dict[str, Any]) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    if not _text(request.get("clientName"), 1, 256):
        errors.append(("invalid_client_name", "clientName must be 1 to 256 characters"))
    if not _uri(request.get("logoUri")):
        errors.append(("invalid_uri", "logoUri must be an http(s) URI"))
    uris = request.get("redirectUris")
    if not _list(uris, None, unique=True) or not all(_uri(u, redirect=True) for u in uris):
        errors.append(("invalid_redirect_uri", "redirectUris must be a non-empty list of unique absolute URIs"))
    if not _list(request.get("userClaims"), CLAIMS):
        errors.append(("invalid_claim", f"userClaims must be a non-empty subset of {sorted(CLAIMS)}"))
    if not _list(request.get("authContextRefs"), ACRS):
        errors.append(("invalid_acr", f"authContextRefs must be a non-empty subset of {sorted(ACRS)}"))
    if not _list(request.get("grantTypes"), GRANT_TYPES):
        errors.append(("invalid_grant_type", 'grantTypes must be ["authorization_code"]'))
    if not _list(request.get("clientAuthMethods"), AUTH_METHODS):
        errors.append(("invalid_client_auth", 'clientAuthMethods must be ["private_key_jwt"]'))
    return errors + _logout_uri_errors(request)


LOGOUT_URI_FIELDS = ("backchannelLogoutUri", "backchannel_logout_uri")  # camelCase like the spec, or OIDC's name


def logout_uri(request: dict[str, Any]) -> Any:
    """The extension field for OIDC Back-Channel Logout (either spelling); None when absent."""
    return next((request[name] for name in LOGOUT_URI_FIELDS if name in request), None)


def _logout_uri_errors(request: dict[str, Any]) -> list[tuple[str, str]]:
    uri = logout_uri(request)
    if uri is None or uri == "":
        return []
    if not _uri(uri) or urlsplit(uri).fragment:
        return [("invalid_uri", "backchannelLogoutUri must be an http(s) URI without a fragment")]
    return []


def _enc_key_invalid(request: dict[str, Any]) -> bool:
    """The extension field `encPublicKey` (userinfo encryption), when given, must be a usable RSA JWK."""
    enc = request.get("encPublicKey")
    return enc is not None and public_rsa_key(enc, "enc") is None


def create_errors(request: dict[str, Any]) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    client_id = request.get("clientId")
    if not _text(client_id, 1, 50) or client_id != client_id.strip():
        errors.append(("invalid_client_id", "clientId must be 1 to 50 characters"))
    if not _text(request.get("relyingPartyId"), 1, 50):
        errors.append(("invalid_rp_id", "relyingPartyId must be 1 to 50 characters"))
    if public_rsa_key(request.get("publicKey")) is None:
        errors.append(("invalid_public_key", "publicKey must be a public RSA signing JWK (2048 bits or more)"))
    if _enc_key_invalid(request):
        errors.append(("invalid_public_key", ENC_KEY_MESSAGE))
    return errors + common_errors(request)


def update_errors(request: dict[str, Any]) -> list[tuple[str, str]]:
    errors = common_errors(request)
    if request.get("status") not in ("active", "inactive"):
        errors.append(("invalid_request", "status must be active or inactive"))
    if _enc_key_invalid(request):  # the update's error codes have no invalid_public_key (the key is fixed)
        errors.append(("invalid_request", ENC_KEY_MESSAGE))
    return errors
