"""One SQLAlchemy engine and session factory per service, with Alembic migrations applied on start."""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, TypeDecorator, create_engine, event, make_url, text
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.engine.interfaces import DBAPICursor, ExecutionContext
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from . import workers
from .workers import FileWriteLock

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """A UTC timestamp that reads back aware on every database: SQLite hands back naive values and PostgreSQL
    values in the session's zone, so APIs would print times without an offset or in another zone."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def declarative_base() -> type[DeclarativeBase]:
    """A fresh declarative base (one per service) with stable constraint names for migrations."""

    class Base(DeclarativeBase):
        metadata = MetaData(naming_convention=NAMING_CONVENTION)

    return Base


_OPENS_TRANSACTION = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE|SAVEPOINT|CREATE|DROP|ALTER)\b", re.I)
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_REVISION = re.compile(r"^revision\s*(?::[^=]*)?=\s*['\"]([^'\"]+)['\"]", re.M)
_DOWN_REVISION = re.compile(r"^down_revision\s*(?::[^=]*)?=\s*(.+)$", re.M)


def script_heads(versions: Path) -> set[str] | None:
    """The head revisions of a migrations folder, read from its scripts' text, or None when a script does not
    read as Alembic writes them (then Alembic itself decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in versions.glob("*.py"):
        text = script.read_text()
        revision, down_revision = _REVISION.search(text), _DOWN_REVISION.search(text)
        if revision is None or down_revision is None:
            return None
        revisions.add(revision[1])
        parents.update(re.findall(r"['\"]([^'\"]+)['\"]", down_revision[1]))
    return (revisions - parents) or None


def bind_processor(column: Column, dialect: Dialect) -> Callable[[Any], Any] | None:
    """How SQLAlchemy turns a value of `column` into the driver's, for code that writes with plain DB-API
    statements (the IM's message log and pub/sub batches) yet stores rows exactly as the ORM would."""
    return column.type.dialect_impl(dialect).bind_processor(dialect)


# A commit that takes SQLite's WAL past its checkpoint threshold (1 000 pages by default) copies the WAL into
# the database file and syncs it before it returns: at 1 000 mediated req/s the IM's message log paid 4-7 ms
# every hundredth commit, which set the IM's p99. A thread of each process checkpoints instead, shortly after
# writes; the connections' own checkpoint stays as a backstop at a larger threshold (a process whose thread
# has not started, a checkpointer that falls behind).
WAL_BACKSTOP_PAGES = 10_000
CHECKPOINT_DELAY = 0.2  # seconds after a write transaction ends: the writes of that while share a checkpoint


class _WalCheckpointer:
    """Copies the WAL of one SQLite file into the database from a thread of its own after writes. PASSIVE: it
    neither waits for nor blocks readers and writers, and copies what no reader still needs."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._stopped = False
        # The process whose thread runs, and that thread's events: made anew in each process that writes, so a
        # forked child neither counts on its parent's thread nor touches events that thread may have held.
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._written = self._stopping = threading.Event()

    def wrote(self) -> None:
        """A write transaction has ended (called with the process's write lock, so never concurrently)."""
        if self._stopped:
            return
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._written, self._stopping = threading.Event(), threading.Event()
            self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
            self._thread.start()
        self._written.set()

    def stop(self) -> None:
        """Ends the thread, waiting for a checkpoint under way (a process may fork next: see _CHECKPOINTING)."""
        self._stopped = True
        if self._thread is not None and self._pid == os.getpid():
            self._stopping.set()
            self._written.set()
            self._thread.join(timeout=10)

    def _run(self) -> None:
        written, stopping = self._written, self._stopping
        while True:
            written.wait()
            if stopping.wait(CHECKPOINT_DELAY):
                return
            written.clear()
            with _CHECKPOINTING:
                try:  # a connection per checkpoint: an idle process holds no file open for it
                    with closing(sqlite3.connect(self._path, timeout=1, isolation_level=None)) as connection:
                        connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error:  # e.g. the file is gone; the backstop still checkpoints
                    pass


# Held while a checkpointer is inside SQLite, and by os.fork() while it forks: a child must not inherit SQLite's
# process-wide mutexes taken by a thread that the child will not have.
_CHECKPOINTING = threading.Lock()
os.register_at_fork(
    before=_CHECKPOINTING.acquire, after_in_parent=_CHECKPOINTING.release, after_in_child=_CHECKPOINTING.release
)


class _ProcessWriteLock:
    """Queues this process's SQLite writers on a lock that wakes the next one at once.

    SQLite's busy handler polls with sleeps of 1 to 100 ms, so threads of one process competing for the
    write lock leave the CPU idle while the writer they wait for is long done. A connection takes this lock
    before BEGIN IMMEDIATE and gives it back when it returns to the pool (after its commit or rollback).
    The workers of one service (services.common.workers) also take turns on a file lock beside the database;
    other processes queue on SQLite's own lock, and a wait that outlasts the timeout proceeds to it.
    """

    def __init__(
        self, timeout: float = 30, siblings: FileWriteLock | None = None, released: Callable[[], None] | None = None
    ) -> None:
        """`released`: called after a write transaction ends, the lock still held."""
        self._released = released
        self._lock = threading.Lock()
        self._holder: int | None = None
        self._timeout = timeout
        self._siblings = siblings
        self._siblings_held = False

    def acquire(self, dbapi_connection: object) -> None:
        if self._holder == id(dbapi_connection):
            return
        if self._lock.acquire(timeout=self._timeout):
            self._holder = id(dbapi_connection)
            self._siblings_held = self._siblings is not None and self._siblings.acquire()

    def release_event(self, dbapi_connection: object, *_: object) -> None:
        if dbapi_connection is not None and self._holder == id(dbapi_connection):
            if self._released is not None:
                self._released()
            if self._siblings_held:
                self._siblings.release()
                self._siblings_held = False
            self._holder = None
            self._lock.release()


class Database:
    def __init__(self, url: str, schema: str | None = None, pool_size: int = 20):
        self.url = url
        self.schema = schema
        self.is_sqlite = url.startswith("sqlite")
        self._checkpointer: _WalCheckpointer | None = None
        self.engine = self._create_engine(pool_size)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    def _create_engine(self, pool_size: int) -> Engine:
        if self.is_sqlite:
            engine = create_engine(self.url, connect_args={"check_same_thread": False, "timeout": 30})

            @event.listens_for(engine, "connect")
            def _sqlite_pragmas(dbapi_conn: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
                # We open transactions ourselves (see _begin_before_writing), not the driver.
                dbapi_conn.isolation_level = None
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute(f"PRAGMA wal_autocheckpoint={WAL_BACKSTOP_PAGES}")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute("PRAGMA busy_timeout=30000")
                cur.close()

            path = self._sqlite_file()
            self._checkpointer = _WalCheckpointer(path) if path else None
            writer = _ProcessWriteLock(
                siblings=FileWriteLock(path + "-writers.lock") if path and workers.current() is not None else None,
                released=self._checkpointer.wrote if self._checkpointer else None,
            )

            @event.listens_for(engine, "before_cursor_execute")
            def _begin_before_writing(
                conn: Connection,
                cursor: DBAPICursor,
                statement: str,
                parameters: object,
                context: ExecutionContext | None,
                executemany: bool,
            ) -> None:
                # pysqlite would BEGIN only before DML and never before SAVEPOINT, so a RELEASE could commit
                # half a unit of work. We BEGIN before the first write or SAVEPOINT instead, IMMEDIATE so that
                # concurrent writers queue on busy_timeout. Reads before it run in autocommit and hold no
                # snapshot that could not be upgraded, and never wait for a writer.
                dbapi = conn.connection.dbapi_connection
                if not dbapi.in_transaction and _OPENS_TRANSACTION.match(statement):
                    writer.acquire(dbapi)
                    dbapi.execute("BEGIN IMMEDIATE")

            for pool_event in ("checkin", "invalidate", "close", "close_detached"):
                event.listen(engine, pool_event, writer.release_event)
            return engine
        connect_args = {}
        if self.schema:
            if not _SCHEMA_NAME.match(self.schema):
                raise ValueError(f"invalid schema name {self.schema!r}")
            connect_args["options"] = f"-csearch_path={self.schema}"
        return create_engine(
            # pool_size is what a loaded process keeps: QueuePool closes every connection beyond it on return,
            # so a smaller pool opened a new PostgreSQL session for one consent check in 25 under load.
            self.url,
            pool_size=pool_size,
            max_overflow=20,
            pool_pre_ping=True,
            connect_args=connect_args,
        )

    def _sqlite_file(self) -> str | None:
        """The SQLite database's file path; None in memory. A worker of a group (services.common.workers)
        shares a write lock beside it with its siblings, and a thread checkpoints its WAL."""
        path = make_url(self.url).database
        return None if not path or path == ":memory:" or path.startswith("file:") else path

    def ensure_schema(self) -> None:
        if self.schema and not self.is_sqlite:
            with self.engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))

    def migrate(self, migrations_dir: Path) -> None:
        """Apply the service's Alembic migrations up to head. Replicas starting together take turns (a
        PostgreSQL advisory lock per schema): the first migrates, the others then find the schema at head."""
        if self.at_head(migrations_dir):
            return
        # Imported only when there is something to apply: Alembic costs each service process about 10 MB.
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(migrations_dir))
        with self.engine.begin() as connection:
            self.take_turns(connection, "migrate")
            if self.schema and not self.is_sqlite:
                connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def take_turns(self, connection: Connection | Session, purpose: str) -> None:
        """Wait for, and hold until this transaction ends, the lock of `purpose` on this schema: replicas
        starting together migrate and seed one after the other (PostgreSQL; SQLite serialises writers itself)."""
        if not self.is_sqlite:
            key = f"{purpose} {self.schema or ''}"
            connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})

    def at_head(self, migrations_dir: Path) -> bool:
        """Whether the database's Alembic version is the newest script's (without loading Alembic)."""
        heads = script_heads(migrations_dir / "versions")
        if heads is None:
            return False
        try:
            with self.engine.connect() as connection:
                current = {row[0] for row in connection.exec_driver_sql("SELECT version_num FROM alembic_version")}
        except SQLAlchemyError:  # no version table yet
            return False
        return current == heads

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success and rolled back on error."""
        session = self.sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - readiness reports any failure as not ready
            return False

    def dispose(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self.engine.dispose()
