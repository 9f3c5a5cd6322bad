"""One TLS context for every HTTP client of a process. httpx builds one per client by loading the CA bundle:
20-40 ms of CPU each time, spent by every service at start and by code that opens a client per call. The
fork server of `sandbox up` builds it once for all services (`sandbox/preload.py`)."""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def client_context() -> ssl.SSLContext:
    """The default verifying context (the CA bundle httpx uses); pass it as `verify=`."""
    return httpx.create_ssl_context()
