"""Real transactions on SQLite.

The pysqlite driver only opens a transaction before DML and never before SAVEPOINT, so an outermost
SAVEPOINT is committed by its RELEASE: a batch row would become visible before its instructions, and a
chunk's postings before the instructions' state change. Taking over BEGIN ourselves (the SQLAlchemy
recipe) makes every session one atomic transaction. IMMEDIATE takes the write lock up front, so two
writers wait for each other (busy_timeout) instead of failing on a stale snapshot.
"""
from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine


def make_transactions_atomic(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _no_driver_transactions(dbapi_connection, _record):  # noqa: ANN001
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection):  # noqa: ANN001
        connection.exec_driver_sql("BEGIN IMMEDIATE")
