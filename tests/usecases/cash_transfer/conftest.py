from __future__ import annotations

import pytest

from tests.e2e.launcher import RunningSandbox


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The real processes, started once for this directory's tests."""
    sandbox = RunningSandbox(tmp_path_factory.mktemp("usct") / "var",
                             only=("identity", "payments", "consent", "cash_transfer"))
    with sandbox:
        assert sandbox.proc.poll() is None, sandbox.output.decode(errors="replace")
        yield sandbox
