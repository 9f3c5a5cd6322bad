"""Single checks on PostgreSQL without leaving the event loop: the lookup and the verification-log write run on
psycopg's asyncio connections, so a check costs no thread-pool hop, no SQLAlchemy pool checkout (nor its
pre-ping round trip) and no hand-over to the log's writer thread; those cost more CPU than the check itself.

The guarantees are the writer thread's (`log_writer.py`): a check is answered only once its rows are committed,
and the log commits as a group whatever was queued while its previous statement ran. Each group is one INSERT
in autocommit (one statement, one round trip: the commit is the statement's own). SQLite, and the checks that
take FastAPI's documented way, keep the thread pool and the writer thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime
from typing import Any

import psycopg

from services.common.database import Database
from services.consent.verification.log_writer import BATCH_ROWS, TABLE, LogWriteError, describe, fit

log = logging.getLogger(__name__)

READ_CONNECTIONS = 8
# A group goes in as one JSON parameter: one value to send, where arrays or rows cost a conversion per value.
LOG_COLUMNS = ", ".join(column.name for column in TABLE.columns if not column.primary_key)
LOG_INSERT = (
    f"INSERT INTO {TABLE.name} ({LOG_COLUMNS}) "
    f"SELECT {LOG_COLUMNS} FROM json_populate_recordset(NULL::{TABLE.name}, %s::json)"
)


def connect_kwargs(db: Database) -> dict[str, Any]:
    """psycopg's arguments for the service's database and schema (those of `Database`'s engine)."""
    _, kwargs = db.engine.dialect.create_connect_args(db.engine.url)
    if db.schema:
        kwargs["options"] = f"-csearch_path={db.schema}"
    return kwargs


async def _connect(kwargs: dict[str, Any]) -> psycopg.AsyncConnection:
    return await psycopg.AsyncConnection.connect(autocommit=True, **kwargs)


class ReadConnections:
    """A few autocommit connections for the lookups; one that failed is closed rather than reused."""

    def __init__(self, kwargs: dict[str, Any], size: int = READ_CONNECTIONS):
        self._kwargs = kwargs
        self._idle: list[psycopg.AsyncCursor] = []  # a cursor per connection, reused (making one costs)
        self._slots = asyncio.Semaphore(size)

    async def fetch(self, sql: str, params: tuple) -> list[tuple]:
        """The rows of one statement; a connection the server dropped (e.g. it restarted) is replaced once.
        ConnectionError when the database cannot be reached (callers need not import psycopg)."""
        try:
            return await self._fetch_once(sql, params)
        except psycopg.OperationalError:
            await self.close()  # the other idle connections are likely as stale
        try:
            return await self._fetch_once(sql, params)
        except psycopg.OperationalError as exc:
            raise ConnectionError(str(exc)) from exc

    async def _fetch_once(self, sql: str, params: tuple) -> list[tuple]:
        async with self._slots:
            cursor = self._idle.pop() if self._idle else (await _connect(self._kwargs)).cursor()
            try:
                await cursor.execute(sql, params)
                rows = await cursor.fetchall()
            except BaseException:
                await cursor.connection.close()
                raise
            self._idle.append(cursor)
            return rows

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for cursor in idle:
            await cursor.connection.close()


class GroupCommitLog:
    """The verification log written from the event loop: `store` returns once the rows are committed."""

    def __init__(self, kwargs: dict[str, Any], store_timeout: float = 30.0):
        self._kwargs = kwargs
        self.store_timeout = store_timeout
        self._pending: list[tuple[list[dict], asyncio.Future]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._connection: psycopg.AsyncConnection | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="consent-verification-log")

    async def stop(self) -> None:
        """Stores what is queued, then closes the connection."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, 10)
        if self._connection is not None:
            await self._connection.close()

    async def store(self, rows: list[dict]) -> None:
        """Queue rows and return once they are committed; LogWriteError if they could not be stored."""
        if self._stopping or self._task is None or self._task.done():
            raise LogWriteError("the verification log has stopped")
        done = asyncio.get_running_loop().create_future()
        self._pending.append(([fit(row) for row in rows], done))
        self._wake.set()
        try:
            async with asyncio.timeout(self.store_timeout):
                await done
        except TimeoutError as exc:
            raise LogWriteError("the verification log did not store the rows in time") from exc

    async def _run(self) -> None:
        while self._pending or not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            batch = self._next_batch()
            for (_, done), error in zip(batch, await self._commit([rows for rows, _ in batch]), strict=True):
                if done.done():
                    continue
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(LogWriteError(f"the verification log could not store the rows ({error})"))

    def _next_batch(self) -> list[tuple[list[dict], asyncio.Future]]:
        """What was queued by now, about BATCH_ROWS rows at most (the rest wakes the next round)."""
        taken, rows = 0, 0
        while taken < len(self._pending) and rows < BATCH_ROWS:
            rows += len(self._pending[taken][0])
            taken += 1
        batch, self._pending = self._pending[:taken], self._pending[taken:]
        if self._pending or self._stopping:
            self._wake.set()
        return batch

    async def _commit(self, checks: list[list[dict]]) -> list[str | None]:
        """Stores the checks' rows in one statement, or else check by check; each check's error (None: stored)."""
        rows = [row for check in checks for row in check]
        if not rows:
            return [None] * len(checks)
        try:
            await self._insert(rows)
        except Exception as exc:  # noqa: BLE001 - the writer must survive a bad batch or a DB outage
            error = describe(exc)
            if len(checks) > 1 and not isinstance(exc, psycopg.OperationalError):  # not an outage
                log.warning("verification log batch of %d rows failed (%s); storing check by check", len(rows), error)
                return [(await self._commit([check]))[0] for check in checks]
            log.error("verification log: %d rows could not be stored: %s", len(rows), error)
            return [error] * len(checks)
        return [None] * len(checks)

    async def _insert(self, rows: list[dict]) -> None:
        connection = await self._ready_connection()
        try:
            await connection.execute(LOG_INSERT, (json.dumps(rows, default=datetime.isoformat),))
        except psycopg.OperationalError:
            self._connection = None
            await connection.close()
            raise

    async def _ready_connection(self) -> psycopg.AsyncConnection:
        """The log's connection, checked first as the pool pre-pings (retrying a failed INSERT could store it twice)."""
        connection = self._connection
        if connection is not None:
            try:
                await connection.execute("SELECT 1")
            except psycopg.OperationalError:
                await connection.close()
                connection = None
        if connection is None:
            connection = self._connection = await _connect(self._kwargs)
        return connection


class PgChecks:
    """What a single check needs on PostgreSQL: the lookup's connections and the log; started on the event loop."""

    def __init__(self, db: Database):
        kwargs = connect_kwargs(db)
        self.reads = ReadConnections(kwargs)
        self.log = GroupCommitLog(kwargs)

    def start(self) -> None:
        self.log.start()

    async def stop(self) -> None:
        await self.log.stop()
        await self.reads.close()
