"""Keys generated on first start under `<data_dir>/keys/` (mode 0600) and loaded afterwards."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from joserfc.jwk import ECKey, OKPKey, RSAKey

_Key = TypeVar("_Key", OKPKey, RSAKey, ECKey)


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    # Two processes may start at once: the first rename wins, both then load the same key.
    if not path.exists():
        os.replace(tmp, path)
    else:
        tmp.unlink(missing_ok=True)


def _load_or_create_pem(path: Path, generate: Callable[[], PrivateKeyTypes]) -> bytes:
    if not path.exists():
        key = generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write_private(path, pem)
    return path.read_bytes()


def _with_kid(key: _Key) -> _Key:
    """Keys are named by their RFC 7638 thumbprint, so a `kid` is stable across restarts."""
    key.ensure_kid()
    return key


def load_or_create_ed25519(keys_dir: Path, name: str) -> OKPKey:
    pem = _load_or_create_pem(keys_dir / f"{name}.ed25519.pem", ed25519.Ed25519PrivateKey.generate)
    return _with_kid(OKPKey.import_key(pem, {"use": "sig", "alg": "Ed25519"}))


def load_or_create_rsa(keys_dir: Path, name: str, size: int = 2048) -> RSAKey:
    pem = _load_or_create_pem(
        keys_dir / f"{name}.rsa.pem", lambda: rsa.generate_private_key(public_exponent=65537, key_size=size)
    )
    return _with_kid(RSAKey.import_key(pem, {"use": "sig", "alg": "RS256"}))


def load_or_create_ec(keys_dir: Path, name: str) -> ECKey:
    pem = _load_or_create_pem(keys_dir / f"{name}.p256.pem", lambda: ec.generate_private_key(ec.SECP256R1()))
    return _with_kid(ECKey.import_key(pem, {"use": "sig", "alg": "ES256"}))


def load_or_create_secret(secrets_dir: Path, name: str, nbytes: int = 32) -> str:
    """A random token kept in a 0600 file (admin tokens, client secrets); never logged."""
    path = secrets_dir / name
    if not path.exists():
        _write_private(path, secrets.token_urlsafe(nbytes).encode())
    return path.read_text().strip()
