"""The demo residents' seed (ARCHITECTURE §6): every resident gets the demo PIN, and a first start computes its
scrypt hash once for all of them (issue 21: ~10 ms of CPU per hash, on the sandbox's critical path)."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from services.common import demo_world
from services.identity.identities.models import Identity
from services.identity.security import check_pin
from tests.services.identity.conftest import running_identity
from tests.support import fresh_database


def test_the_seed_hashes_the_demo_pin_once_and_every_resident_logs_in_with_it(tmp_path, monkeypatch):
    hashed = []
    original = hashlib.scrypt

    def counting_scrypt(password: bytes, **kwargs) -> bytes:  # noqa: ANN003
        hashed.append(password)
        return original(password, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting_scrypt)
    with fresh_database(tmp_path, "identity") as db:
        with running_identity(db, tmp_path) as server:
            settings = server.app.state.settings
            with server.app.state.db.session() as session:
                identities = session.scalars(select(Identity)).all()
        assert hashed == [settings.demo_pin.encode()]
        with running_identity(db, tmp_path):  # a restart finds every resident: nothing to hash
            pass
        assert hashed == [settings.demo_pin.encode()]
    assert {i.uin for i in identities} == {r["uin"] for r in demo_world.residents()}
    assert all(check_pin(settings.demo_pin, i.pin_hash) for i in identities)
    assert not any(check_pin("0000", i.pin_hash) for i in identities)
