"""The hash-chained, signed message log and `sandbox im verify-log`."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import select, update

from services.information_mediator.cli import cli, verify_log
from services.information_mediator.messagelog.models import LogRecord

from .conftest import CLIENT


def _records(stack, n: int = 6) -> None:
    for i in range(n):
        stack.call("POST", "echo", f"/item/{i}", content=f"body-{i}".encode())
    stack.flush_log()


def test_intact_log_verifies_and_holds_hashes_not_bodies(stack):
    _records(stack)
    ok, message = verify_log(stack.settings)
    assert ok, message
    with stack.app.state.db.session() as s:
        rows = list(s.scalars(select(LogRecord).where(LogRecord.client == CLIENT).order_by(LogRecord.seq)))
    assert len(rows) >= 6
    assert all(r.request_body is None and r.response_body is None for r in rows)
    assert rows[-1].request_size == len(b"body-5") and len(rows[-1].request_hash) == 64


def _tamper(stack, statement) -> None:
    with stack.app.state.db.session() as s:
        s.execute(statement)


def test_edited_record_is_detected(stack):
    _records(stack)
    _tamper(stack, update(LogRecord).where(LogRecord.seq == 3).values(status=500))
    ok, message = verify_log(stack.settings)
    assert not ok and "seq 3" in message and "edited" in message


def test_deleted_record_is_detected(stack):
    _records(stack)
    with stack.app.state.db.session() as s:
        s.delete(s.scalars(select(LogRecord).where(LogRecord.seq == 4)).one())
    ok, message = verify_log(stack.settings)
    assert not ok and "missing" in message


def test_deleted_last_record_is_detected(stack):
    _records(stack)
    with stack.app.state.db.session() as s:
        last = s.scalars(select(LogRecord).order_by(LogRecord.seq.desc())).first()
        s.delete(last)
    ok, message = verify_log(stack.settings)
    assert not ok and "deleted at the end" in message


def test_reordered_records_are_detected(stack):
    _records(stack)
    _tamper(stack, update(LogRecord).where(LogRecord.seq == 2).values(seq=-2))
    _tamper(stack, update(LogRecord).where(LogRecord.seq == 3).values(seq=2))
    _tamper(stack, update(LogRecord).where(LogRecord.seq == -2).values(seq=3))
    ok, message = verify_log(stack.settings)
    assert not ok and "seq 2" in message


def test_cli_exit_codes(stack, monkeypatch):
    _records(stack, 2)
    monkeypatch.setenv("INFORMATION_MEDIATOR_DATA_DIR", str(stack.settings.data_dir))
    monkeypatch.setenv("INFORMATION_MEDIATOR_DATABASE_URL", stack.settings.database_url)
    if stack.settings.database_schema:
        monkeypatch.setenv("INFORMATION_MEDIATOR_DATABASE_SCHEMA", stack.settings.database_schema)
    result = CliRunner().invoke(cli, ["verify-log"])
    assert result.exit_code == 0, result.output
    assert "intact" in result.output
    _tamper(stack, update(LogRecord).where(LogRecord.seq == 1).values(path="/forged"))
    result = CliRunner().invoke(cli, ["verify-log"])
    assert result.exit_code == 1 and "BROKEN" in result.output


def test_bodies_are_logged_only_when_enabled(db_fields, tmp_path):
    """Off by default (see test_intact_log...); when the administrator enables it, both bodies are kept,
    they are covered by the record hash, and verify-log still passes."""
    from services.information_mediator.app import create_app
    from services.information_mediator.settings import IMSettings
    from tests.support import LiveServer

    from .conftest import ADMIN, CLIENT_SECRET, conf, provider_app

    holder: dict = {}
    with LiveServer(provider_app(holder)) as provider:
        settings = IMSettings(**db_fields, data_dir=tmp_path, admin_token=ADMIN, log_bodies=True)
        app = create_app(settings)
        with LiveServer(app) as im:
            holder["url"] = im.url
            import httpx

            assert (
                httpx.put(
                    im.url + "/api/v1/config",
                    json=conf(provider.url, provider.url),
                    headers={"Authorization": f"Bearer {ADMIN}"},
                ).status_code
                == 201
            )
            r = httpx.post(
                f"{im.url}/r1/SANDBOX/GOV/PROVIDER-ORG/APP/echo/x",
                content=b"kept-body",
                headers={"Information-Mediator-Client": CLIENT, "Information-Mediator-Client-Secret": CLIENT_SECRET},
            )
            assert r.status_code == 200
            app.state.im_runtime.writer.flush()
            with app.state.db.session() as s:
                row = s.scalars(select(LogRecord).where(LogRecord.client == CLIENT)).one()
            assert row.request_body == b"kept-body" and row.response_body == r.content
            ok, message = verify_log(settings)
            assert ok, message
            with app.state.db.session() as s:
                s.execute(update(LogRecord).where(LogRecord.id == row.id).values(request_body=b"forged-body"))
            ok, message = verify_log(settings)
            assert not ok and "edited" in message


def test_rewriting_a_record_and_re_chaining_everything_after_it_is_detected(stack):
    """An attacker who edits a record and recomputes every later hash still cannot forge the seals."""
    from services.information_mediator.messagelog.chain import record_hash
    from services.information_mediator.messagelog.verify import _field_dict

    _records(stack)
    with stack.app.state.db.session() as s:
        rows = list(s.scalars(select(LogRecord).order_by(LogRecord.seq)))
        rows[1].status = 299
        prev = rows[0].record_hash
        for row in rows[1:]:
            row.prev_hash = prev
            row.record_hash = record_hash(_field_dict(row), prev, (row.request_body, row.response_body))
            prev = row.record_hash
    ok, message = verify_log(stack.settings)
    assert not ok and ("signature" in message or "head" in message)
