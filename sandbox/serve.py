"""Runs one service in the foreground: `python -m sandbox.serve <name>` (what `sandbox up` starts for each
process and what each container runs through `sandbox serve`). It imports only that service."""

from __future__ import annotations

import importlib
import os
import sys

from . import topology


def serve(name: str) -> None:
    import uvicorn

    from services.common.limits import HTTPLimits

    process = topology.load().processes.get(name)
    if process is None:
        raise SystemExit(f"unknown service {name!r}; known: {', '.join(topology.load().processes)}")
    app = importlib.import_module(process.module).create_app()
    settings = app.state.settings
    uvicorn.run(
        app,
        host=os.environ.get(f"{process.env_prefix}HOST", settings.host or "127.0.0.1"),
        port=settings.port or process.port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        **HTTPLimits.from_env().uvicorn_options(),  # head size and time, keep-alive, connections
    )


if __name__ == "__main__":
    serve(sys.argv[1] if len(sys.argv) > 1 else "")
