"""The real processes of a use case (`sandbox up` on free ports), with throw-away schemas on PostgreSQL."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, text

from sandbox import topology
from tests.e2e.launcher import RunningSandbox
from tests.support import TEST_DATABASE_URL


@contextlib.contextmanager
def running_stack(
    data_dir: Path, processes: tuple[str, ...], tag: str, args: tuple[str, ...] = ()
) -> Iterator[RunningSandbox]:
    """`processes` includes the IM first; each gets its own schema on PostgreSQL, dropped afterwards. `args`: more
    options of `sandbox up`."""
    schemas = {}
    if TEST_DATABASE_URL:
        run = uuid.uuid4().hex[:8]
        known = topology.load().processes
        schemas = {f"{known[n].env_prefix}DATABASE_SCHEMA": f"{tag}_{run}_{n}" for n in processes}
    sandbox = RunningSandbox(data_dir, only=processes[1:], extra_env=schemas, args=args)
    try:
        with sandbox:
            assert sandbox.proc.poll() is None, sandbox.output.decode(errors="replace")
            yield sandbox
    finally:
        if schemas:
            engine = create_engine(TEST_DATABASE_URL)
            with engine.begin() as conn:
                for schema in schemas.values():
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            engine.dispose()
