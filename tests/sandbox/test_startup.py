"""What `sandbox up` does to start quickly (issue 21) without changing what it starts: forked services are not
made to run the launcher's main module again, the fork server imports Alembic only when a service may migrate,
and the use cases' set-up hooks run side by side, each to its end, the first error raised."""

from __future__ import annotations

import os
import sys
import types
from multiprocessing import spawn

import pytest

from sandbox import bootstrap
from sandbox.launcher import Sandbox, _children_skip_main, may_migrate
from sandbox.topology import load

RAN: list[str] = []


def failing_hook(sandbox: Sandbox) -> None:
    RAN.append("failing")
    raise RuntimeError("Identity refused the OIDC client")


def working_hook(sandbox: Sandbox) -> None:
    RAN.append("working")


def test_a_forked_service_is_told_of_no_main_module(monkeypatch):
    main = types.ModuleType("__main__")
    main.__spec__ = types.SimpleNamespace(name="sandbox.cli")  # `python -m sandbox.cli up`
    monkeypatch.setitem(sys.modules, "__main__", main)
    assert spawn.get_preparation_data("sandbox-consent")["init_main_from_name"] == "sandbox.cli"
    with _children_skip_main():
        data = spawn.get_preparation_data("sandbox-consent")
    assert "init_main_from_name" not in data and "init_main_from_path" not in data
    assert data["sys_path"] == sys.path  # the rest is what multiprocessing sends
    main.__spec__, main.__file__ = None, "/venv/bin/sandbox"  # the `sandbox` console script
    with _children_skip_main():
        assert "init_main_from_path" not in spawn.get_preparation_data("sandbox-consent")
    assert spawn.get_preparation_data("sandbox-consent")["init_main_from_path"] == "/venv/bin/sandbox"


def test_alembic_is_preloaded_on_a_first_start_and_on_a_database_url_only(tmp_path, monkeypatch):
    for key in [key for key in os.environ if key.endswith("DATABASE_URL")]:
        monkeypatch.delenv(key)
    names = ["information_mediator", "consent"]
    assert may_migrate(tmp_path, names)  # first start
    (tmp_path / "information_mediator").mkdir()
    assert may_migrate(tmp_path, names)  # consent has not started here yet
    (tmp_path / "consent").mkdir()
    assert not may_migrate(tmp_path, names)  # a restart
    monkeypatch.setenv("CONSENT_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/sandbox")
    assert may_migrate(tmp_path, names)


def test_every_hook_runs_to_its_end_and_the_first_error_is_raised(tmp_path):
    topology = load()
    topology.processes["cash_transfer"].on_up = f"{__name__}:failing_hook"
    topology.processes["construction_permit"].on_up = f"{__name__}:working_hook"
    sandbox = Sandbox(data_dir=tmp_path, topology=topology, running=list(topology.processes))
    RAN.clear()
    with pytest.raises(RuntimeError, match="refused the OIDC client"):
        bootstrap.run_hooks(sandbox)
    assert sorted(RAN) == ["failing", "working"]
