"""The shared kernel: settings, keys, error shapes, the IM client and the IM's assertion."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from pydantic import BaseModel

from services.common.app import create_service_app
from services.common.im_client import IMClient, current_message_id, service_path
from services.common.keys import load_or_create_rsa, load_or_create_secret
from services.common.settings import ServiceSettings

MIGRATIONS = Path(__file__).parent / "empty_migrations"


def test_database_url_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    s = ServiceSettings(service_name="payments", data_dir=tmp_path)
    url, schema = s.resolved_database()
    assert url == f"sqlite:///{(tmp_path / 'payments.db').resolve()}" and schema is None
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u@h/sandbox")
    assert ServiceSettings(service_name="payments").resolved_database() == (
        "postgresql+psycopg://u@h/sandbox",
        "payments",
    )
    own = ServiceSettings(service_name="payments", database_url="postgresql+psycopg://u@h/payments")
    assert own.resolved_database() == ("postgresql+psycopg://u@h/payments", None)


def test_keys_are_generated_once_private_and_stable(tmp_path):
    first = load_or_create_rsa(tmp_path, "signing")
    again = load_or_create_rsa(tmp_path, "signing")
    assert first.kid == again.kid and first.as_dict(private=False)["n"] == again.as_dict(private=False)["n"]
    pem = tmp_path / "signing.rsa.pem"
    assert stat.S_IMODE(os.stat(pem).st_mode) == 0o600
    secret = load_or_create_secret(tmp_path / "secrets", "token")
    assert secret == load_or_create_secret(tmp_path / "secrets", "token") and len(secret) >= 32
    assert load_or_create_secret(tmp_path / "secrets", "other") != secret


class Body(BaseModel):
    amount: int


def _app(tmp_path, db_fields, **kwargs):
    router = APIRouter()

    @router.post("/things")
    def things(body: Body) -> dict:
        return {"amount": body.amount, "message_id": current_message_id.get()}

    @router.get("/boom")
    def boom() -> dict:
        raise RuntimeError("bug")

    settings = ServiceSettings(service_name="kernel", data_dir=tmp_path, **db_fields)
    return create_service_app(
        settings=settings, title="t", description="d", migrations_dir=MIGRATIONS, routers=[router], **kwargs
    )


def test_validation_errors_are_400_in_the_service_shape_never_422(tmp_path, db_fields):
    from fastapi.responses import JSONResponse

    def shape(request, status, message, details):  # noqa: ANN001, ANN202
        return JSONResponse({"ResponseCode": str(status), "ResponseDescription": message}, status_code=status)

    with TestClient(_app(tmp_path, db_fields, error_render=shape), raise_server_exceptions=False) as c:
        r = c.post("/things", json={"amount": "lots"})
        assert (
            r.status_code == 400 and r.json()["ResponseCode"] == "400" and "amount" in r.json()["ResponseDescription"]
        )
        assert c.post("/things", content=b"{broken").status_code == 400
        assert c.get("/nope").json()["ResponseCode"] == "404"
        boom = c.get("/boom")
        assert boom.status_code == 500 and boom.json()["ResponseDescription"] == "internal error"
        assert c.get("/health").json()["status"] == "UP"
        assert c.get("/ready").json() == {"status": "READY", "database": "UP"}


def test_incoming_message_id_is_bound_to_the_request(tmp_path, db_fields):
    with TestClient(_app(tmp_path, db_fields)) as c:
        assert c.post("/things", json={"amount": 1}, headers={"X-Road-Id": "m-1"}).json()["message_id"] == "m-1"
        generated = c.post("/things", json={"amount": 1}).json()["message_id"]
        assert generated and generated != "m-1"


def test_im_client_builds_r1_urls_and_sends_identity():
    assert service_path("SANDBOX/GOV/A B/APP/svc", "/x/y") == "/r1/SANDBOX/GOV/A%20B/APP/svc/x/y"
    with pytest.raises(ValueError):
        service_path("SANDBOX/GOV/APP/svc")
    im = IMClient("http://im:8000/", "SANDBOX/GOV/M/APP", "s3cret")
    assert im.url("SANDBOX/GOV/P/Q/svc", "path") == "http://im:8000/r1/SANDBOX/GOV/P/Q/svc/path"
    token = current_message_id.set("parent-id")
    try:
        headers = im.headers()
    finally:
        current_message_id.reset(token)
    assert headers == {
        "Information-Mediator-Client": "SANDBOX/GOV/M/APP",
        "X-Road-Id": "parent-id",
        "Information-Mediator-Client-Secret": "s3cret",
    }


def test_a_released_savepoint_does_not_commit_the_outer_transaction(tmp_path, db_fields):
    """On SQLite the driver would commit at the savepoint's RELEASE; the kernel keeps it one transaction."""
    from sqlalchemy import text

    from services.common.database import Database

    db = Database(db_fields["database_url"], db_fields["database_schema"])
    db.ensure_schema()
    with db.session() as s:
        s.execute(text("CREATE TABLE t (v INTEGER)"))
    with pytest.raises(RuntimeError), db.session() as s:
        with s.begin_nested():
            s.execute(text("INSERT INTO t VALUES (1)"))
        raise RuntimeError("the unit of work fails after its savepoint was released")
    with db.session() as s:
        assert s.execute(text("SELECT count(*) FROM t")).scalar() == 0
    db.dispose()


def test_script_heads_reads_the_chain_and_defers_to_alembic_on_unknown_scripts(tmp_path):
    from services.common.database import script_heads

    (tmp_path / "0001_a.py").write_text("revision = '0001'\ndown_revision = None\n")
    (tmp_path / "0002_b.py").write_text("revision: str = '0002'\ndown_revision: Union[str, None] = '0001'\n")
    (tmp_path / "0003_c.py").write_text('revision = "0003"\ndown_revision = "0001"\n')
    assert script_heads(tmp_path) == {"0002", "0003"}
    (tmp_path / "0004_merge.py").write_text("revision = '0004'\ndown_revision = ('0002', '0003')\n")
    assert script_heads(tmp_path) == {"0004"}
    (tmp_path / "0005_odd.py").write_text("REVISION = '0005'\n")
    assert script_heads(tmp_path) is None
    assert script_heads(tmp_path / "missing") is None


def test_migrate_applies_a_new_script_and_knows_when_it_is_at_head(tmp_path, db_fields):
    import shutil

    from sqlalchemy import inspect

    from services.common.database import Database, script_heads

    migrations = tmp_path / "migrations"
    shutil.copytree(
        Path(__file__).parents[3] / "services" / "identity" / "migrations",
        migrations,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    db = Database(db_fields["database_url"], db_fields["database_schema"])
    assert not db.at_head(migrations)
    db.migrate(migrations)
    assert db.at_head(migrations)
    (head,) = script_heads(migrations / "versions")
    (migrations / "versions" / "9999_extra.py").write_text(
        f"from alembic import op\nimport sqlalchemy as sa\n\nrevision = '9999'\ndown_revision = '{head}'\n\n\n"
        "def upgrade() -> None:\n    op.create_table('extra', sa.Column('id', sa.Integer, primary_key=True))\n\n\n"
        "def downgrade() -> None:\n    op.drop_table('extra')\n"
    )
    assert not db.at_head(migrations)
    db.migrate(migrations)
    assert db.at_head(migrations)
    assert "extra" in inspect(db.engine).get_table_names(schema=db_fields["database_schema"])
    db.dispose()


def test_a_nul_character_in_a_path_or_query_is_a_400_in_the_service_shape(tmp_path, db_fields):
    from fastapi.responses import JSONResponse

    def shape(request, status, message, details):  # noqa: ANN001, ANN202
        return JSONResponse({"ResponseCode": str(status), "ResponseDescription": message}, status_code=status)

    with TestClient(_app(tmp_path, db_fields, error_render=shape), raise_server_exceptions=False) as c:
        for url in ("/things%00", "/things?x=%00", "/health?individualId=a%00b"):
            r = c.post(url, json={"amount": 1}) if url.startswith("/things") else c.get(url)
            assert r.status_code == 400 and "NUL" in r.json()["ResponseDescription"], (url, r.text)
        assert c.post("/things", json={"amount": 1}).status_code == 200
