"""The `sandbox` command: up, serve, status, reset, and the services' operator commands."""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click
import httpx
from rich.console import Console
from rich.table import Table

from services.common import demo_world

from . import topology as topo
from .launcher import LaunchError, Sandbox, Supervisor, pid_alive, read_state, register_topology, run_hooks, write_state

console = Console(width=None if sys.stdout.isatty() else 150)
DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=Path("var"),
    show_default=True,
    help="Where the sandbox keeps its databases, keys, secrets and logs.",
)


def _ports(values: tuple[str, ...]) -> dict[str, int]:
    out = {}
    for value in values:
        name, _, port = value.partition("=")
        if not port.isdigit():
            raise click.BadParameter(f"expected NAME=PORT, got {value!r}")
        out[name] = int(port)
    return out


class LazyGroup(click.Group):
    """A group whose subcommands named in `lazy` ("name": "module:attribute") are imported when used, so that
    `sandbox up`, which runs as long as the sandbox does, does not hold every service's code in memory."""

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            module, _, attribute = self.lazy[name].partition(":")
            return getattr(importlib.import_module(module), attribute)
        return super().get_command(ctx, name)


# Services contribute `sandbox <name> ...` commands through a `cli` group in their `cli` module.
OPERATOR_COMMANDS = {"im": "services.information_mediator.cli:cli", "consent": "services.consent.cli:cli"}
DEMOS = {
    "cash-transfer": "sandbox.demo_cash_transfer:cash_transfer",
    "construction-permit": "sandbox.demo_construction_permit:construction_permit",
}


@click.group(cls=LazyGroup, lazy=OPERATOR_COMMANDS)
def main() -> None:
    """GovStack building-block sandbox."""


@main.command()
@DATA_DIR
@click.option("--port", "ports", multiple=True, metavar="NAME=PORT", help="Override a process's port (repeatable).")
@click.option("--only", multiple=True, help="Start only these processes (the IM always starts).")
def up(data_dir: Path, ports: tuple[str, ...], only: tuple[str, ...]) -> None:
    """Start every service, register the topology in the IM, seed, and print where everything is."""
    started_at = time.monotonic()
    try:
        topology = topo.load(_ports(ports))
    except KeyError as exc:
        raise click.BadParameter(str(exc)) from exc
    state = read_state(data_dir)
    if state and pid_alive(state["launcher_pid"]):
        raise click.ClickException(
            f"a sandbox already runs from {data_dir} (pid {state['launcher_pid']}); see `sandbox status`"
        )
    names = [n for n, p in topology.processes.items() if p.available and (not only or n in only or n == topo.IM)]
    sandbox = Sandbox(data_dir=data_dir, topology=topology)
    sandbox.prepare_secrets()
    supervisor = Supervisor(sandbox)
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        with console.status(f"starting {', '.join(names)}…"):
            supervisor.start_all(names)
            register_topology(sandbox)
            run_hooks(sandbox)
        write_state(sandbox, supervisor)
        _print_welcome(sandbox, time.monotonic() - started_at)
        while not stopping:
            dead = supervisor.dead_child()
            if dead:
                raise LaunchError(f"{dead} stopped unexpectedly:\n{supervisor.log_tail(dead)}")
            time.sleep(0.5)
    except (LaunchError, httpx.HTTPError) as exc:
        console.print(f"[bold red]sandbox could not start:[/] {exc}")
        supervisor.stop_all()
        sys.exit(1)
    except BaseException:  # a failing hook, say: never leave the processes behind
        supervisor.stop_all()
        raise
    console.print("stopping…")
    supervisor.stop_all()
    (data_dir / "sandbox.json").unlink(missing_ok=True)


def _print_welcome(sandbox: Sandbox, seconds: float) -> None:
    table = Table(title=f"GovStack sandbox — up in {seconds:.1f} s", show_lines=False)
    table.add_column("process")
    table.add_column("URL")
    table.add_column("API docs")
    table.add_column("also")
    extras = {
        topo.IM: "/ui/trace (message trace), /api/v1/monitoring, /metrics: with the viewer token",
        "identity": "/.well-known/openid-configuration",
        "cash_transfer": "/ (the cash-transfer demo)",
        "construction_permit": "/ (the construction-permit demo)",
    }
    for name in sandbox.running:
        url = sandbox.url(name)
        table.add_row(name, url, f"{url}/docs", extras.get(name, ""))
    console.print(table)
    logins = Table(title="Demo logins (VID + OTP)")
    logins.add_column("persona")
    logins.add_column("name")
    logins.add_column("VID")
    for role in (
        "enrollment_officer",
        "payment_officer",
        "candidate",
        "permit_officer",
        "architect",
        "property_owner",
        "mayor",
    ):
        person = demo_world.with_role(role)[0]
        logins.add_row(role.replace("_", " "), person["name"], person["vid"])
    console.print(logins)
    console.print(
        f"OTP for every demo login: [bold]{demo_world.sandbox_otp()}[/]. IM administrator token: "
        f"{sandbox.secrets_dir() / 'im-admin-token'} (Authorization: Bearer …). Logs: {sandbox.data_dir / 'logs'}."
    )
    console.print(
        f"Message trace: [bold]{sandbox.trace_page()}[/] (read-only viewer token "
        f"{sandbox.secrets_dir() / 'im-viewer-token'}, also a Bearer token for /api/v1/monitoring and /metrics).",
        soft_wrap=True,
    )
    console.print("Press Ctrl-C to stop.")


@main.command()
@click.argument("name")
def serve(name: str) -> None:
    """Run one service in the foreground (what each container runs)."""
    from .serve import serve as run

    if name not in topo.load().processes:
        raise click.BadParameter(f"unknown service {name!r}; known: {', '.join(topo.load().processes)}")
    run(name)


@main.command()
@DATA_DIR
def status(data_dir: Path) -> None:
    """List what runs where."""
    state = read_state(data_dir)
    table = Table(title="sandbox status")
    for col in ("process", "URL", "pid", "health"):
        table.add_column(col)
    processes = (
        state["processes"] if state else {n: {"url": p.url, "pid": None} for n, p in topo.load().processes.items()}
    )
    with httpx.Client(timeout=1.0) as http:
        for name, info in processes.items():
            try:
                health = "UP" if http.get(info["url"] + "/health").status_code == 200 else "DOWN"
            except httpx.HTTPError:
                health = "DOWN"
            table.add_row(name, info["url"], str(info.get("pid") or "-"), health)
    console.print(table)


@main.command()
@DATA_DIR
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def reset(data_dir: Path, yes: bool) -> None:
    """Wipe the sandbox's data (databases, keys, secrets, logs); the next `up` reseeds."""
    state = read_state(data_dir)
    if state and pid_alive(state["launcher_pid"]):
        raise click.ClickException("the sandbox is running: stop it first (Ctrl-C in its terminal)")
    if not yes:
        click.confirm(f"Delete everything under {data_dir}?", abort=True)
    shutil.rmtree(data_dir, ignore_errors=True)
    shared = os.environ.get("DATABASE_URL", "")
    if shared.startswith("postgresql"):
        from sqlalchemy import create_engine, text

        engine = create_engine(shared)
        with engine.begin() as conn:
            for name in topo.load().processes:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        engine.dispose()
    console.print(f"sandbox data wiped; `sandbox up` will reseed ({data_dir}).")


@main.group()
def db() -> None:
    """Developer commands for the services' database migrations."""


@db.command("revision")
@click.argument("service")
@click.option("-m", "--message", required=True)
def db_revision(service: str, message: str) -> None:
    """Autogenerate an Alembic migration for SERVICE from its models (against an empty SQLite database)."""
    import tempfile

    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    process = topo.load().processes.get(service)
    if process is None:
        raise click.BadParameter(f"unknown service {service!r}")
    migrations = Path(importlib.import_module(process.module).__file__).with_name("migrations")
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{tmp}/db.sqlite")
        config = Config()
        config.set_main_option("script_location", str(migrations))
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            command.revision(config, message=message, autogenerate=True)


@main.group(cls=LazyGroup, lazy=DEMOS)
def demo() -> None:
    """Run a use case's whole journey over HTTP against a running sandbox."""


if __name__ == "__main__":
    main()
