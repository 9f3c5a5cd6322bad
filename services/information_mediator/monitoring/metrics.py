"""Operational monitoring: Prometheus metrics in memory, and per service/client statistics from the log."""

from __future__ import annotations

import os
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from services.common import workers
from services.common.clock import iso

from ..messagelog.models import LogRecord
from ..proxy.errors import NO_PEER, UNKNOWN_SERVICE

# A refused call is recorded without a client (the claimed one is not trusted); it is counted under this name.
UNAUTHENTICATED = "(unauthenticated)"


def shown_client(client: str | None) -> str:
    return client or UNAUTHENTICATED


class Metrics:
    def __init__(self) -> None:
        # One of several workers (sandbox/workers.py): each keeps its series in files of the directory the
        # parent made, and a scrape of any worker adds up every worker's.
        self.shared_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") if workers.current() is not None else None
        if self.shared_dir:
            values.ValueClass = values.MultiProcessValue()
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "im_requests", "Exchanges through the IM", ["service", "client", "outcome"], registry=self.registry
        )
        self.duration = Histogram(
            "im_request_duration_seconds",
            "Time from request to the end of the response",
            ["service"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.bytes = Counter("im_bytes", "Bytes relayed", ["service", "direction"], registry=self.registry)
        # Each exchange updates four series; looking their children up by labels costs more than updating them.
        self._series: dict[tuple[str, str, str], tuple] = {}

    def exposition(self) -> bytes:
        """The series in Prometheus's text format, every worker's when there are several."""
        if not self.shared_dir:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.shared_dir)
        return generate_latest(registry)

    def observe(self, record: dict) -> None:
        service = _service_label(record)
        outcome = "failure" if record["error_type"] or record["status"] >= 400 else "success"
        key = (service, shown_client(record["client"]), outcome)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = (
                self.requests.labels(*key),
                self.duration.labels(service),
                self.bytes.labels(service, "request"),
                self.bytes.labels(service, "response"),
            )
        requests, duration, sent, received = series
        requests.inc()
        duration.observe(record["duration_ms"] / 1000)
        sent.inc(record["request_size"])
        received.inc(record["response_size"])


def _service_label(record: dict) -> str:
    """The service, once the call is known to be genuine: made-up names would each add a time series (a call into
    a federated instance may name any service: it is answered NoPeer without being checked)."""
    if not record["client"] or record["error_type"] in (UNKNOWN_SERVICE[0], NO_PEER[0]):
        return "-"
    return record["service"] or "-"


def statistics(
    session: Session, since: datetime | None = None, service: str | None = None, client: str | None = None
) -> list[dict]:
    """Counts, failures, latency and sizes per (service, client) from the message log."""
    failed = case((LogRecord.status >= 400, 1), (LogRecord.error_type.is_not(None), 1), else_=0)
    stmt = (
        select(
            LogRecord.service,
            LogRecord.client,
            func.count(),
            func.sum(failed),
            func.avg(LogRecord.duration_ms),
            func.min(LogRecord.duration_ms),
            func.max(LogRecord.duration_ms),
            func.sum(LogRecord.request_size),
            func.sum(LogRecord.response_size),
            func.max(LogRecord.request_at),
        )
        .group_by(LogRecord.service, LogRecord.client)
        .order_by(LogRecord.service, LogRecord.client)
    )
    if since is not None:
        stmt = stmt.where(LogRecord.request_at >= since)
    if service:
        stmt = stmt.where(LogRecord.service == service)
    if client:
        stmt = stmt.where(LogRecord.client == ("" if client == UNAUTHENTICATED else client))
    out = []
    for svc, cli, count, failures, avg, mn, mx, req, resp, last in session.execute(stmt):
        out.append(
            {
                "service": svc,
                "client": shown_client(cli),
                "requests": count,
                "successes": count - int(failures or 0),
                "failures": int(failures or 0),
                "durationMs": {"avg": round(float(avg or 0), 3), "min": float(mn or 0), "max": float(mx or 0)},
                "requestBytes": int(req or 0),
                "responseBytes": int(resp or 0),
                "lastRequestAt": iso(last),
            }
        )
    return out
