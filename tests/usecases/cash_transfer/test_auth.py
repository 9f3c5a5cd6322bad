"""The login's checks that the real flow never exercises: forged or misdirected tokens are refused."""

from __future__ import annotations

import time

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from usecases.cash_transfer.settings import CashTransferSettings
from usecases.common import oidc, roles

SETTINGS = CashTransferSettings(identity_url="http://idp.test")
PROVIDER = RSAKey.generate_key(2048, {"kid": "p1", "alg": "RS256", "use": "sig"})
ATTACKER = RSAKey.generate_key(2048, {"kid": "p1", "alg": "RS256", "use": "sig"})
KEYS = KeySet([RSAKey.import_key(PROVIDER.as_dict(private=False))])


def _token(key: RSAKey, **overrides) -> str:
    claims = {
        "iss": "http://idp.test",
        "aud": SETTINGS.oidc_client_id,
        "sub": "psut-1",
        "iat": int(time.time()),
        "exp": int(time.time()) + 60,
        "nonce": "n1",
        "email": "kofi.mensah@example.org",
    } | overrides
    return jwt.encode({"alg": "RS256", "kid": "p1"}, claims, key)


def test_a_correctly_signed_token_is_accepted():
    assert oidc.verified(_token(PROVIDER), KEYS, SETTINGS, nonce="n1")["sub"] == "psut-1"


@pytest.mark.parametrize(
    "token",
    [
        _token(ATTACKER),  # forged signature
        _token(PROVIDER, aud="another-client"),  # meant for someone else
        _token(PROVIDER, iss="http://evil.test"),  # another issuer
        _token(PROVIDER, exp=int(time.time()) - 120),  # expired
        "not.a.jwt",
    ],
)
def test_forged_or_misdirected_tokens_are_refused(token):
    with pytest.raises(oidc.LoginFailed):
        oidc.verified(token, KEYS, SETTINGS)


def test_a_replayed_id_token_with_another_nonce_is_refused():
    with pytest.raises(oidc.LoginFailed):
        oidc.verified(_token(PROVIDER), KEYS, SETTINGS, nonce="other")


def test_role_assignments_narrow_by_a_normalised_name():
    assert roles.name_key("  Élise   Dupont-Martin ") == roles.name_key("elise dupont martin")
    assert roles.name_key("Kofi Mensah") != roles.name_key("Kofi Diallo")
    assert roles.name_key("   ") == ""
