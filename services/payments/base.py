"""The declarative base of the Payments service and the exact money column type."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import BigInteger, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from services.common.database import declarative_base

Base = declarative_base()

MONEY_SCALE = 4
_FACTOR = Decimal(10) ** MONEY_SCALE


class Money(TypeDecorator):
    """A Decimal stored as an exact integer count of 1/10 000 units.

    SQLite has no exact decimal type (NUMERIC is stored as REAL there), so amounts are kept as BIGINT
    ten-thousandths on every database: sums and comparisons in SQL stay exact, Python sees Decimal.
    """

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | int | str | None, dialect: Dialect | None) -> int | None:
        if value is None:
            return None
        scaled = Decimal(value) * _FACTOR
        if scaled != scaled.to_integral_value():
            raise ValueError(f"amount has more than {MONEY_SCALE} decimal places")
        return int(scaled)

    def process_result_value(self, value: int | None, dialect: Dialect | None) -> Decimal | None:
        if value is None:
            return None
        return (Decimal(int(value)) / _FACTOR).quantize(Decimal(1).scaleb(-MONEY_SCALE))

    @property
    def python_type(self) -> type:
        return Decimal


def plain(amount: Decimal | None) -> int | float | None:
    """An exact Decimal as the JSON number the specs document (10.5000 -> 10.5, 7.0000 -> 7).

    Computation stays in Decimal; only the wire value becomes a number. Amounts are at most 12 integer
    and 4 decimal digits, which a double reproduces exactly in its shortest repr.
    """
    if amount is None:
        return None
    if amount == amount.to_integral_value():
        return int(amount)
    return float(amount)


def refresh_statistics(session: Session, table: str, rows_written: int) -> None:
    """After a bulk insert on PostgreSQL, ANALYZE so prepared statements stop planning for an empty table
    (a stale plan turned the mapper's indexed lookups into sequential scans: 20 s per 10 000 payees)."""
    if rows_written >= 1000 and session.get_bind().dialect.name == "postgresql":
        from sqlalchemy import text

        session.execute(text(f"ANALYZE {table}"))


def bulk_insert(session: Session, table: Table, rows: list[dict]) -> None:
    """Inserts many rows in the session's transaction: COPY on PostgreSQL, executemany elsewhere.

    COPY is what makes a 100 000-instruction batch fit the time budget on PostgreSQL (row-by-row
    pipelined INSERTs cost ~0.3 ms each there).
    """
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        from sqlalchemy import insert

        session.execute(insert(table), rows)
        return
    columns = list(rows[0])
    money = Money()
    converters = [
        (lambda v: money.process_bind_param(v, None)) if isinstance(table.c[c].type, Money) else None for c in columns
    ]
    driver = session.connection().connection.driver_connection
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([conv(row[c]) if conv else row[c] for c, conv in zip(columns, converters)])
    except driver.IntegrityError as exc:  # raise what session.execute would, so callers handle one error type
        raise IntegrityError(statement, None, exc) from exc
