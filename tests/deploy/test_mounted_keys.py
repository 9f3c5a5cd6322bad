"""Replicas of a service each get a copy of the same mounted credentials (`sandbox bootstrap --new-credentials`,
a Secret per service): what one replica signs, the other verifies; none makes a key of its own."""

from __future__ import annotations

from joserfc import jwt
from joserfc.jwk import KeySet

from sandbox import bootstrap, topology
from services.common.keys import load_or_create_ed25519
from services.identity.signing.keyring import Keyring
from tests.deploy.replicas import mount_credentials


def _replica_dirs(tmp_path, name: str) -> list:  # noqa: ANN001
    credentials = tmp_path / "credentials"
    bootstrap.new_credentials(credentials)
    dirs = [tmp_path / f"{name}-{index}" for index in (1, 2)]
    for data_dir in dirs:
        mount_credentials(credentials, name, data_dir)
    return dirs


def test_identity_replicas_sign_with_the_one_mounted_key(tmp_path):
    first, second = (Keyring(d / "keys", 90, 600, "http://identity") for d in _replica_dirs(tmp_path, "identity"))
    assert first.jwks() == second.jwks() and len(first.jwks()["keys"]) == 1
    token = first.sign({"sub": "resident", "iss": "http://identity"})
    assert jwt.decode(token, KeySet.import_key_set(second.jwks())).claims["sub"] == "resident"
    assert not list((tmp_path / "identity-2" / "keys" / "oidc").glob("*.json.tmp"))


def test_im_replicas_hold_the_one_signature_key(tmp_path):
    keys = [
        load_or_create_ed25519(d / "keys", "information-mediator")
        for d in _replica_dirs(tmp_path, "information_mediator")
    ]
    assert KeySet(keys[:1]).as_dict(private=False) == KeySet(keys[1:]).as_dict(private=False)


def test_new_credentials_keep_every_service_key_and_make_each_once(tmp_path):
    bootstrap.new_credentials(tmp_path)
    made = {
        (name, path): (tmp_path / name / path).read_bytes()
        for name in topology.load().processes
        for path in bootstrap.service_files(name)
    }
    assert made and all(made.values())
    bootstrap.new_credentials(tmp_path)
    assert all((tmp_path / name / path).read_bytes() == data for (name, path), data in made.items())
