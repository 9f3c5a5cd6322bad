"""Per-client sliding-window rate limits (in memory, per process) on authentication and verification calls."""

from __future__ import annotations

import math
import threading
import time
from collections import deque

from services.identity.errors import IdentityError
from services.identity.settings import IdentitySettings


class RateLimited(IdentityError):
    def __init__(self, retry_after: int):
        message = f"too many requests; retry after {retry_after} s"
        super().__init__("too_many_requests", message, 429, {"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class SlidingWindow:
    """At most `limit` events per key in any `window` seconds."""

    def __init__(self, limit: int, window: float):
        self.limit = limit
        self.window = window
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> None:
        """Record one event for `key`, or raise `RateLimited` (the refused event is not recorded)."""
        now = time.monotonic()
        with self._lock:
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                raise RateLimited(max(math.ceil(events[0] + self.window - now), 1))
            events.append(now)


class Limits:
    """The limits of one app, built from its settings."""

    def __init__(self, settings: IdentitySettings):
        self.authentication = SlidingWindow(settings.auth_rate_limit, settings.rate_window_seconds)
        self.verification = SlidingWindow(settings.verification_rate_limit, settings.rate_window_seconds)
