"""`sandbox conformance ...`: the conformance profile's commands (README.md, "Conformance profile")."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import click
import httpx

from sandbox import topology as topo
from sandbox.launcher import LaunchError, Sandbox, launcher_running, read_state, shared_database

from . import profile as profiles
from .fixtures import load_fixtures


class NoProfileHere(click.ClickException):
    exit_code = 1


@click.group()
def conformance() -> None:
    """The conformance profile (`sandbox up --profile conformance`): GovStack's compliance-check fixtures."""


@conformance.command()
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="The profile's data directory [default: var/conformance].",
)
def reseed(data_dir: Path | None) -> None:
    """Restore every fixture (vouchers, transactions, wallet keys, federated instances, ...) in the running
    conformance profile, e.g. after a run of GovStack's checks changed them."""
    data_dir = data_dir or profiles.data_dir_of(profiles.PROFILE)
    state = _running_profile(data_dir)
    sandbox = _sandbox_of(data_dir, state)
    try:
        report = load_fixtures(sandbox)
    except (LaunchError, httpx.HTTPError) as exc:
        raise click.ClickException(f"the fixtures could not be restored: {exc}") from exc
    click.echo("Conformance fixtures restored:\n  " + "\n  ".join(report))


def _running_profile(data_dir: Path) -> dict:
    """The state of the conformance profile running from `data_dir`, or a clear refusal."""
    state = read_state(data_dir)
    if state is None or not launcher_running(state):
        default = read_state(profiles.data_dir_of(profiles.DEFAULT_PROFILE))
        also = ""
        if default and launcher_running(default):
            also = " The sandbox running in this folder is the default one, which has no conformance fixtures."
        raise NoProfileHere(
            f"no conformance profile runs from {data_dir}: `sandbox up --profile conformance` starts one.{also}"
        )
    if state.get("profile") != profiles.PROFILE:
        raise NoProfileHere(f"the sandbox running from {data_dir} is not the conformance profile: nothing to reseed")
    if state.get("database") != shared_database():
        raise NoProfileHere(
            f"the profile runs with DATABASE_URL={state.get('database') or '(unset: SQLite files)'}, this command "
            f"sees {shared_database() or '(unset)'}: run it with the environment `sandbox up` had"
        )
    return state


def _sandbox_of(data_dir: Path, state: dict) -> Sandbox:
    """The running profile as its launcher knows it: ports, secrets, the processes' environment."""
    ports = {name: urlsplit(info["url"]).port for name, info in state["processes"].items()}
    topology = topo.load(ports)
    sandbox = Sandbox(data_dir=data_dir, topology=topology, running=list(ports), profile=profiles.PROFILE)
    sandbox.prepare_secrets()
    sandbox.extra_env = profiles.environment(topology)
    return sandbox
