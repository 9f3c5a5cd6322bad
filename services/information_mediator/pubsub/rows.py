"""The statements of the publication batch and of the PUSH outcomes as plain DB-API statements on fixed SQL
text (one text per number of rows or keys), rather than SQLAlchemy Core, whose per-statement and per-row work
(compilation cache lookups, parameter processing, result rows) was most of the batch's CPU (README, Benchmark):
lock the event types, look up publisher-chosen ids, read the active subscriptions, insert the events and their
deliveries (multi-row `INSERT … RETURNING`, up to ROWS_PER_STATEMENT rows a statement); record deliveries and
failed attempts.

As in `messagelog/store.py`, each value goes through its column's SQLAlchemy bind processor and each value
read through its result processor, so rows are stored and read exactly as the ORM would. The statements run on
the session's connection (`exec_driver_sql`) in its transaction: on SQLite the first write still takes the
process's write lock and begins IMMEDIATE (`services.common.database`)."""

from __future__ import annotations

import functools
from collections import namedtuple
from collections.abc import Callable, Hashable, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, CursorResult, Table
from sqlalchemy.engine import Dialect

from services.common.database import bind_processor

from .models import DELIVERED, PENDING, Delivery, Event, EventType, Subscription

ROWS_PER_STATEMENT = 500  # 6 000 parameters for deliveries: within SQLite's and PostgreSQL's limits
SUBSCRIPTION_COLUMNS = (
    "id",
    "room",
    "event_type",
    "subscriber",
    "delivery",
    "ttl",
    "fifo",
    "service_code",
    "path",
    "max_attempts",
    "min_backoff",
    "max_backoff",
)
ActiveSubscription = namedtuple("ActiveSubscription", SUBSCRIPTION_COLUMNS)  # what a publication needs of one


class Insert:
    """`INSERT INTO table (columns) VALUES (…), (…) RETURNING id, key columns` for one dialect."""

    def __init__(self, table: Table, columns: Sequence[str], key: Sequence[str], dialect: Dialect):
        mark = _mark(dialect)
        self._head = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES "
        self._row = "(" + ", ".join([mark] * len(columns)) + ")"
        self._tail = f" RETURNING id, {', '.join(key)}"
        self._values = itemgetter(*columns)
        self._key = itemgetter(*key)
        self._single_key = len(key) == 1
        self._processors = [
            (index, process)
            for index, name in enumerate(columns)
            if (process := bind_processor(table.c[name], dialect)) is not None
        ]

    def ids(self, connection: Connection, rows: Sequence[dict]) -> list[int]:
        """Inserts `rows` (column -> value) and returns their ids, in the order of `rows`."""
        by_key: dict[Hashable, int] = {}
        processed: dict[tuple[int, Any], Any] = {}  # the rows of a batch share most times: each processed once
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[start : start + ROWS_PER_STATEMENT]
            params: list[Any] = []
            for row in chunk:
                values = list(self._values(row))
                for index, process in self._processors:
                    value = values[index]
                    if (index, value) not in processed:
                        processed[(index, value)] = process(value)
                    values[index] = processed[(index, value)]
                params += values
            text = self._head + ", ".join([self._row] * len(chunk)) + self._tail
            # RETURNING gives no row order that either database promises: ids are matched by a unique key.
            for returned in connection.exec_driver_sql(text, tuple(params)):
                by_key[returned[1] if self._single_key else tuple(returned[1:])] = returned[0]
        return [by_key[self._key(row)] for row in rows]


class BatchStatements:
    def __init__(self, dialect: Dialect):
        mark = _mark(dialect)
        self._pair = f"(room = {mark} AND event_type = {mark})"
        self._mark = mark
        self._for_update = " FOR UPDATE" if dialect.name == "postgresql" else ""  # SQLite: one writer at a time
        self._dialect = dialect
        self._time = bind_processor(Delivery.__table__.c.updated_at, dialect) or (lambda value: value)
        self._subscription_processors: list[tuple[int, Callable[[Any], Any]]] | None = None  # on the first read
        self.events = Insert(
            Event.__table__,
            ("event_id", "room", "event_type", "publisher", "payload", "published_at"),
            ("event_id",),
            dialect,
        )
        self.deliveries = Insert(
            Delivery.__table__,
            (
                "event_pk",
                "subscription_id",
                "sequence",
                "push",
                "fifo",
                "state",
                "attempts",
                "next_attempt_at",
                "expires_at",
                "updated_at",
                "lease_until",
                "leased_by",
            ),
            ("event_pk", "subscription_id"),
            dialect,
        )

    def lock_event_types(self, connection: Connection, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """(room, type) -> schema of those that exist, their rows locked in id order (PostgreSQL)."""
        text = (
            f"SELECT room, event_type, schema_json FROM {EventType.__tablename__} WHERE {self._pairs(len(keys))} "
            f"ORDER BY id{self._for_update}"
        )
        rows = connection.exec_driver_sql(text, _flat(keys))
        return {(room, event_type): schema for room, event_type, schema in rows}

    def stored_ids(self, connection: Connection, event_ids: Sequence[str]) -> dict[str, tuple[str, str, str]]:
        """event id -> (room, type, publisher) of those already stored."""
        text = (
            f"SELECT event_id, room, event_type, publisher FROM {Event.__tablename__} "
            f"WHERE event_id IN ({', '.join([self._mark] * len(event_ids))})"
        )
        rows = connection.exec_driver_sql(text, tuple(event_ids))
        return {event_id: (room, event_type, publisher) for event_id, room, event_type, publisher in rows}

    def active_subscriptions(
        self, connection: Connection, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], list[ActiveSubscription]]:
        text = (
            f"SELECT {', '.join(SUBSCRIPTION_COLUMNS)} FROM {Subscription.__tablename__} "
            f"WHERE ({self._pairs(len(keys))}) AND cancelled_at IS NULL"
        )
        subs: dict[tuple[str, str], list[ActiveSubscription]] = {}
        rows = connection.exec_driver_sql(text, _flat(keys))
        if self._subscription_processors is None:
            self._subscription_processors = self._processors(Subscription.__table__, SUBSCRIPTION_COLUMNS, rows)
        for row in rows:
            values = list(row)
            for index, process in self._subscription_processors:
                values[index] = process(values[index])
            sub = ActiveSubscription(*values)
            subs.setdefault((sub.room, sub.event_type), []).append(sub)
        return subs

    def delivered(self, connection: Connection, ids: Sequence[int], status: int | None, at: datetime) -> None:
        """Pending deliveries `ids` answered 2xx with `status` at `at`: delivered, their leases given up."""
        m, when = self._mark, self._time(at)
        for start in range(0, len(ids), ROWS_PER_STATEMENT):
            chunk = ids[start : start + ROWS_PER_STATEMENT]
            text = (
                f"UPDATE {Delivery.__tablename__} SET state = {m}, attempts = attempts + 1, last_status = {m}, "
                f"last_error = NULL, delivered_at = {m}, updated_at = {m}, lease_until = NULL, leased_by = NULL "
                f"WHERE id IN ({', '.join([m] * len(chunk))}) AND state = {m}"
            )
            connection.exec_driver_sql(text, (DELIVERED, status, when, when, *chunk, PENDING))

    def attempted(self, connection: Connection, rows: Sequence[tuple]) -> None:
        """Pending deliveries that failed: `(id, attempts, last_status, updated_at, state, last_error,
        next_attempt_at)` each, their leases given up (one executemany)."""
        m = self._mark
        text = (
            f"UPDATE {Delivery.__tablename__} SET attempts = {m}, last_status = {m}, updated_at = {m}, state = {m}, "
            f"last_error = {m}, next_attempt_at = {m}, lease_until = NULL, leased_by = NULL "
            f"WHERE id = {m} AND state = {m}"
        )
        time = self._time
        params = [
            (attempts, status, time(updated), state, error, time(next_at), delivery_id, PENDING)
            for delivery_id, attempts, status, updated, state, error, next_at in rows
        ]
        connection.exec_driver_sql(text, params)

    def _processors(
        self, table: Table, columns: Sequence[str], rows: CursorResult
    ) -> list[tuple[int, Callable[[Any], Any]]]:
        """The result processors of `columns`, for the types the driver reports (PostgreSQL's depend on them)."""
        types = [entry[1] for entry in rows.cursor.description]
        processors = []
        for index, name in enumerate(columns):
            process = table.c[name].type.dialect_impl(self._dialect).result_processor(self._dialect, types[index])
            if process is not None:
                processors.append((index, process))
        return processors

    def _pairs(self, count: int) -> str:
        return " OR ".join([self._pair] * count)


@functools.cache
def batch_statements(dialect: Dialect) -> BatchStatements:
    return BatchStatements(dialect)


def _mark(dialect: Dialect) -> str:
    return "?" if dialect.paramstyle == "qmark" else "%s"


def _flat(keys: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    return tuple(value for key in keys for value in key)
