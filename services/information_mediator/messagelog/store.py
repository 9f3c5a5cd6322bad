"""Where the writer thread puts its batches: plain DB-API statements (fixed SQL text, one tuple per record,
`executemany`) rather than SQLAlchemy Core, whose statement compilation, parameter processing and execution
context cost more per batch than the database's own work (README, Performance). Each value still goes through
its column's SQLAlchemy bind processor, so a row is stored exactly as the ORM would store it: `verify-log`,
the trace and monitoring read it back through SQLAlchemy as before.

One transaction per batch appends the records and moves the chain's signed head (an upsert). PostgreSQL: one
connection kept for the writer thread, in autocommit; a batch of up to four records is one statement (the
records inserted in a WITH clause, the head moved by the main statement), a larger one a transaction sent as
one pipeline; each is one round trip. Measured alone (one record: 0.22 against 0.39 ms and 58 against 180 µs
of the writer's CPU; eight: the same; 32: the pipeline 0.93 ms, one statement 2.4 ms, its long text costing
the client more than the rows), hence the two. SQLite: a pooled connection per batch, and the writes through
SQLAlchemy's connection, so that the process's SQLite write lock (`services.common.database`, taken before
the first write, given back when the connection returns to the pool) queues the log with the process's other
writers (pub/sub) instead of leaving them to SQLite's sleeping busy handler."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.pool import PoolProxiedConnection

from services.common.database import Database, bind_processor

from .models import ChainHead, LogRecord

_LOG, _HEAD = LogRecord.__table__, ChainHead.__table__
COLUMNS = tuple(column.key for column in _LOG.columns if not column.primary_key)
Head = tuple[int, str]  # the chain's last stored (seq, record_hash)


class LogStore:
    """The log's statements in the driver's parameter style and the conversion of a chained record to its row."""

    def __init__(self, db: Database, mark: str):
        self.db = db
        dialect = db.engine.dialect
        self.insert_records = (
            f"INSERT INTO {_LOG.name} ({', '.join(COLUMNS)}) VALUES ({', '.join([mark] * len(COLUMNS))})"
        )
        self.select_head = f"SELECT seq, record_hash FROM {_HEAD.name} WHERE chain = {mark}"
        self.move_head = (
            f"INSERT INTO {_HEAD.name} (chain, seq, record_hash, signature) VALUES ({mark}, {mark}, {mark}, {mark}) "
            "ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, record_hash = excluded.record_hash, "
            "signature = excluded.signature"
        )
        self._processors = [
            (index, process)
            for index, key in enumerate(COLUMNS)
            if (process := bind_processor(_LOG.c[key], dialect)) is not None
        ]
        driver = dialect.loaded_dbapi
        # A database that cannot be reached (as opposed to a record it refuses): no point retrying one by one.
        self.outages: tuple[type[Exception], ...] = (
            OperationalError,
            InterfaceError,
            driver.OperationalError,
            driver.InterfaceError,
        )

    def row(self, record: dict) -> tuple:
        values = [record[key] for key in COLUMNS]
        for index, process in self._processors:
            values[index] = process(values[index])
        return tuple(values)

    def read_head(self, chain: str) -> Head | None:
        raise NotImplementedError

    def append(self, chain: str, records: Sequence[dict], seal: str) -> None:
        """Stores the chained records (the last one carries `seal`) and moves the head to the last one."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def _head_row(self, chain: str, records: Sequence[dict], seal: str) -> tuple:
        last = records[-1]
        return (chain, last["seq"], last["record_hash"], seal)


class SQLiteLogStore(LogStore):
    def __init__(self, db: Database):
        super().__init__(db, "?")

    def read_head(self, chain: str) -> Head | None:
        with self.db.engine.connect() as connection:
            head = connection.exec_driver_sql(self.select_head, (chain,)).first()
        return (head[0], head[1]) if head else None

    def append(self, chain: str, records: Sequence[dict], seal: str) -> None:
        rows = [self.row(record) for record in records]
        with self.db.engine.connect() as connection:
            # The first write takes the process's write lock and begins IMMEDIATE (services.common.database).
            connection.exec_driver_sql(self.insert_records, rows)
            connection.exec_driver_sql(self.move_head, self._head_row(chain, records, seal))
            connection.commit()


class PostgresLogStore(LogStore):
    # Up to this many records a batch goes as one statement; beyond, as a pipeline (see the module's docstring).
    ONE_STATEMENT_UP_TO = 4

    def __init__(self, db: Database):
        super().__init__(db, "%s")
        self._pooled: PoolProxiedConnection | None = None
        values = f"({', '.join(['%s'] * len(COLUMNS))})"
        self._one_statement = {  # records inserted in a WITH clause, the head moved by the main statement
            count: f"WITH appended AS (INSERT INTO {_LOG.name} ({', '.join(COLUMNS)}) VALUES "
            f"{', '.join([values] * count)}) {self.move_head}"
            for count in range(1, self.ONE_STATEMENT_UP_TO + 1)
        }

    def read_head(self, chain: str) -> Head | None:
        return self._run(lambda connection: connection.execute(self.select_head, (chain,)).fetchone())

    def append(self, chain: str, records: Sequence[dict], seal: str) -> None:
        rows = [self.row(record) for record in records]
        head = self._head_row(chain, records, seal)
        if len(rows) <= self.ONE_STATEMENT_UP_TO:
            statement, parameters = self._one_statement[len(rows)], [*(v for row in rows for v in row), *head]
            self._run(lambda connection: connection.execute(statement, parameters))
        else:
            self._run(lambda connection: self._pipelined(connection, rows, head))

    def _pipelined(self, connection: Any, rows: list[tuple], head: tuple) -> None:
        with connection.pipeline(), connection.transaction(), connection.cursor() as cursor:
            cursor.executemany(self.insert_records, rows)
            cursor.execute(self.move_head, head)

    def close(self) -> None:
        if self._pooled is not None:
            self._pooled.driver_connection.autocommit = False  # as the pool hands connections out
            self._pooled.close()
            self._pooled = None

    def _run(self, work: Callable[[Any], Any]) -> Any:
        """Runs `work` (one statement: its own transaction) on the kept psycopg connection. On failure it rolls
        back, or drops a broken connection; a kept one found broken (the server closed it while it was idle) is
        replaced and `work` runs once more, as the pool's pre-ping would have done."""
        while True:
            fresh = self._pooled is None
            if fresh:
                self._pooled = self.db.engine.raw_connection()
                self._pooled.driver_connection.autocommit = True
            connection = self._pooled.driver_connection
            try:
                return work(connection)
            except BaseException as exc:
                broken = isinstance(exc, self.outages)
                self._recover(connection, broken)
                if fresh or not broken:
                    raise

    def _recover(self, connection: Any, broken: bool) -> None:
        if not broken:
            try:
                connection.rollback()
                return
            except Exception:  # noqa: BLE001 - a connection that cannot roll back is dropped below
                pass
        self._pooled.invalidate()
        self._pooled = None


def open_store(db: Database) -> LogStore:
    if db.is_sqlite:
        return SQLiteLogStore(db)
    if db.engine.dialect.driver != "psycopg":
        raise ValueError("the message log needs SQLite or PostgreSQL through psycopg 3 (postgresql+psycopg://)")
    return PostgresLogStore(db)
