from __future__ import annotations

import pytest

from tests.usecases.stack import running_stack

PROCESSES = ("information_mediator", "identity", "payments", "consent", "construction_permit")


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The real processes, started once for this directory's tests."""
    with running_stack(tmp_path_factory.mktemp("permit") / "var", PROCESSES, "cp") as sandbox:
        yield sandbox
