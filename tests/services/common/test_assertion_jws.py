"""The IM assertion is signed and checked with `cryptography` directly (services/common/assertion.py): it must
stay a standard compact JWS that joserfc reads and writes, and refuse everything else."""

from __future__ import annotations

import base64
import json
import os

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, OKPKey, RSAKey

from services.common.assertion import AssertionVerifier, Exchange, InvalidAssertion, sign_assertion

EXCHANGE = Exchange("SANDBOX/GOV/A/CLIENT", "SANDBOX/GOV/B/APP/svc", "POST", "/x?y=1", "ab" * 32, "m-1")


def _key(kid: str = "k1") -> OKPKey:
    return OKPKey.generate_key("Ed25519", parameters={"kid": kid}, private=True)


def _b64(value: dict | bytes) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_joserfc_reads_our_assertions_and_we_read_its():
    key = _key()
    claims = jwt.decode(sign_assertion(key, EXCHANGE), KeySet([key]), algorithms=["Ed25519"]).claims
    assert (claims["sub"], claims["aud"], claims["htm"], claims["htu"], claims["bh"], claims["mid"]) == (
        EXCHANGE.client,
        EXCHANGE.service,
        "POST",
        "/x?y=1",
        "ab" * 32,
        "m-1",
    )
    theirs = jwt.encode({"alg": "Ed25519", "kid": "k1"}, claims, key, algorithms=["Ed25519"])
    assert AssertionVerifier("http://unused", KeySet([key])).verify(theirs, EXCHANGE).client == EXCHANGE.client


def test_tampered_unsigned_or_foreign_assertions_are_refused():
    key = _key()
    verifier = AssertionVerifier("http://unused", KeySet([key]))
    token = sign_assertion(key, EXCHANGE)
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged = {
        "payload changed": f"{header}.{_b64({**claims, 'sub': 'SANDBOX/GOV/X/EVIL'})}.{signature}",
        "alg none": f"{_b64({'alg': 'none', 'kid': 'k1'})}.{payload}.",
        "HS256 with the public key": jwt.encode(
            {"alg": "HS256", "kid": "k1"},
            claims,
            OctKey.import_key(key.public_key.public_bytes_raw()),
            algorithms=["HS256"],
        ),
        "another Ed25519 key, same kid": sign_assertion(_key("k1"), EXCHANGE),
        "signature cut": f"{header}.{payload}.{signature[:20]}",
        "not a JWS": "abc",
        "header not JSON": f"{_b64(b'[1')}.{payload}.{signature}",
        "kid not a string": f"{_b64({'alg': 'Ed25519', 'kid': 7})}.{payload}.{signature}",
    }
    for why, bad in forged.items():
        with pytest.raises(InvalidAssertion):
            verifier.verify(bad, EXCHANGE)
            pytest.fail(why)
    verifier.verify(token, EXCHANGE)  # the genuine one still passes, once


def test_an_unknown_kid_fetches_the_ims_keys_again(monkeypatch):
    old, new = _key("old"), _key("new")
    verifier = AssertionVerifier("http://unused", KeySet([old]))
    fetched = []

    def fetch() -> KeySet:
        fetched.append(1)
        return KeySet.import_key_set({"keys": [new.as_dict(private=False)]})

    monkeypatch.setattr(verifier, "_fetch", fetch)
    assert verifier.verify(sign_assertion(new, EXCHANGE), EXCHANGE).message_id == "m-1"
    assert fetched == [1]
    rsa = KeySet([RSAKey.generate_key(2048, parameters={"kid": "old"})])
    only_rsa = AssertionVerifier("http://unused", rsa)
    monkeypatch.setattr(only_rsa, "_fetch", lambda: rsa)
    with pytest.raises(InvalidAssertion):  # an RSA key is no use for an Ed25519 assertion, whatever its kid
        only_rsa.verify(sign_assertion(old, EXCHANGE), EXCHANGE)


def _jti(token: str) -> str:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"]


def test_jtis_are_unique_and_a_forked_worker_does_not_repeat_its_parents():
    key = _key()
    ours = [_jti(sign_assertion(key, EXCHANGE)) for _ in range(3)]
    assert len(set(ours)) == 3 and all(len(jti) == 32 for jti in ours)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a worker forked from this process, as `sandbox serve` forks the IM's
        os.write(write, _jti(sign_assertion(key, EXCHANGE)).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    theirs = os.read(read, 64).decode()
    mine = _jti(sign_assertion(key, EXCHANGE))
    assert theirs != mine and theirs[:16] != mine[:16]  # another prefix, not the parent's next count
