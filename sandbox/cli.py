"""The `sandbox` command: up, serve, status, reset, and the services' operator commands."""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import IO, Any

import click
import httpx
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from services.common import demo_world

from . import bootstrap as boot
from . import member
from . import topology as topo
from .conformance import profile as profiles
from .launcher import (
    DEFAULT_PROFILE,
    Interrupted,
    LaunchError,
    Sandbox,
    ServiceProcess,
    Supervisor,
    launcher_running,
    lock_data_dir,
    may_migrate,
    read_state,
    remove_state,
    services_running,
    starting,
    stop_sandbox,
    taken_port_advice,
    write_state,
)
from .processes import port_free

console = Console(width=None if sys.stdout.isatty() else 150)
DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the sandbox keeps its databases, keys, secrets and logs [default: var; var/conformance for the "
    "conformance profile].",
)
PROFILE = click.option(
    "--profile",
    type=click.Choice(profiles.PROFILES),
    default=DEFAULT_PROFILE,
    show_default=True,
    help="Which sandbox: the default one, or the conformance profile (GovStack's compliance checks only: "
    "its fixtures, spec paths served without the IM, Consent over HTTPS; README, 'Conformance profile').",
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
            command = getattr(importlib.import_module(module), attribute)
            process = OPERATOR_PROCESSES.get(name)
            return OperatorGroup(command, process) if process else command
        return super().get_command(ctx, name)


# Services contribute `sandbox <name> ...` commands through a `cli` group in their `cli` module; they read
# the data of that service's process in the sandbox of the current folder.
OPERATOR_COMMANDS = {"im": "services.information_mediator.cli:cli", "consent": "services.consent.cli:cli"}
OPERATOR_PROCESSES = {"im": topo.IM, "consent": "consent"}
PROFILE_COMMANDS = {"conformance": "sandbox.conformance.cli:conformance"}
KIT_COMMANDS = {"check": "sandbox.check.cli:check"}  # the conformance kit (sandbox/check/)
DEMOS = {
    "cash-transfer": "sandbox.demo_cash_transfer:cash_transfer",
    "construction-permit": "sandbox.demo_construction_permit:construction_permit",
}
SANDBOX_DATA_DIR = profiles.SANDBOX_DATA_DIR  # where `sandbox up` keeps its data by default
EXPLICIT_PLACE = ("--data-dir", "--database-url", "--help", "-h")


class NoSandboxHere(click.ClickException):
    exit_code = 2


class OperatorGroup(click.Group):
    """A service's operator commands, pointed at that service's data in the sandbox of the current folder
    (`var/<process>`), unless its environment or an option names the place."""

    def __init__(self, group: click.Group, process: str):
        super().__init__(group.name, commands=group.commands, help=group.help)
        self.process = process
        self._args: list[str] = []

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        self._args = list(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        if not any(arg.split("=")[0] in EXPLICIT_PLACE for arg in self._args):
            point_at_sandbox_data(self.process, SANDBOX_DATA_DIR)
        return super().invoke(ctx)


def point_at_sandbox_data(process: str, data_dir: Path) -> None:
    """Sets `<PROCESS>_DATA_DIR` to the process's data in `data_dir`, or says that there is no sandbox."""
    prefix = f"{process.upper()}_"
    if os.environ.get(f"{prefix}DATA_DIR"):
        return
    here = data_dir / process
    if here.is_dir():
        os.environ[f"{prefix}DATA_DIR"] = str(here)
        return
    if os.environ.get(f"{prefix}DATABASE_URL") or os.environ.get("DATABASE_URL"):
        return
    raise NoSandboxHere(
        f"no sandbox in this folder: {here} does not exist. Run this command in the folder where you ran "
        f"`sandbox up`, or set {prefix}DATA_DIR to the {process} data directory."
    )


@click.group(cls=LazyGroup, lazy=OPERATOR_COMMANDS | PROFILE_COMMANDS | KIT_COMMANDS)
def main() -> None:
    """GovStack building-block sandbox."""


@main.command()
@DATA_DIR
@PROFILE
@click.option("--port", "ports", multiple=True, metavar="NAME=PORT", help="Override a process's port (repeatable).")
@click.option("--only", multiple=True, help="Start only these processes (the IM always starts).")
@click.option(
    "--replace",
    "replacements",
    multiple=True,
    metavar="BLOCK[/SERVICE]=URL",
    help="Route a building block's services (or one service) in the IM to an external implementation instead "
    "of ours, e.g. payments=http://127.0.0.1:9002 (repeatable; README, 'Bring your own building block').",
)
@click.option(
    "--consent-https-port",
    type=int,
    default=profiles.DEFAULT_HTTPS_PORT,
    show_default=True,
    envvar="SANDBOX_CONSENT_HTTPS_PORT",
    help="The conformance profile's HTTPS port of Consent.",
)
@click.option(
    "--mtls",
    is_flag=True,
    envvar="SANDBOX_MTLS",
    help="Mutual TLS between the IM and the providers, as between X-Road security servers: a local CA under "
    "<data dir>/tls/ca, and each provider serves its IM services only on a listener that takes the IM's client "
    "certificate (README, 'Mutual TLS').",
)
def up(
    data_dir: Path | None,
    profile: str,
    ports: tuple[str, ...],
    only: tuple[str, ...],
    replacements: tuple[str, ...],
    consent_https_port: int,
    mtls: bool,
) -> None:
    """Start every service, register the topology in the IM, seed, print where everything is, and keep the
    services running (one that dies is restarted) until Ctrl-C or `sandbox stop`."""
    started_at = time.monotonic()
    data_dir = data_dir or profiles.data_dir_of(profile)
    try:
        topology = topo.load(_ports(ports), local=topo.local_file(data_dir))
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="--port") from exc
    except topo.TopologyError as exc:
        raise click.ClickException(f"{topo.local_file(data_dir)}: {exc}") from exc
    try:
        topology.replace(_replacements(replacements))
    except topo.TopologyError as exc:
        raise click.BadParameter(str(exc), param_hint="--replace") from exc
    names = _processes_to_start(topology, only)
    conformance = profile == profiles.PROFILE
    if conformance and mtls:
        raise click.BadParameter(
            "the conformance profile calls the blocks directly: it has no mutual TLS", param_hint="--mtls"
        )
    _refuse_the_other_profiles_data(data_dir, profile)
    lock = _refuse_a_second_sandbox(data_dir)  # noqa: F841 - held until this process exits
    # The fork server imports what the services use while the launcher prepares.
    ServiceProcess.warm_up(migrations=may_migrate(data_dir, names))
    https_port = consent_https_port if conformance and profiles.HTTPS_PROCESS in names else None
    _refuse_taken_ports(topology, names, https_port)
    profiles.mark_data_dir(data_dir, profile)
    if conformance:
        _print_banner()
    sandbox = Sandbox(data_dir=data_dir, topology=topology)
    supervisor = Supervisor(sandbox, say=_say)
    _stop_on_signals(supervisor)
    exit_code = 0
    try:
        sandbox.prepare_secrets()
        if conformance:
            profiles.prepare(sandbox, names, consent_https_port)
        if mtls:
            sandbox.prepare_mtls(names)
        with console.status(f"starting {', '.join(names)}…"):
            supervisor.start_all(names)
            boot.bootstrap(sandbox, im_replicas=False)  # one IM: it has the topology once it took it
            fixtures = _load_fixtures(sandbox) if conformance else []
            supervisor.raise_if_stopping()
        write_state(sandbox, supervisor)
        try:
            _print_welcome(sandbox, time.monotonic() - started_at)
            _print_replaced(sandbox)
            if conformance:
                _print_conformance(sandbox, fixtures)
        except OSError:
            pass  # the terminal is gone (SIGHUP follows): supervise until the stop request arrives
        supervisor.supervise(on_change=lambda: write_state(sandbox, supervisor))
        _say("stopping…")
    except Interrupted:
        _say("start-up interrupted: stopping what had started…")
        exit_code = 130
    except (LaunchError, httpx.HTTPError) as exc:
        _say(f"[bold red]sandbox could not start:[/] {exc}")
        exit_code = 1
    finally:  # whatever happened (a failing hook, say): never leave the processes behind
        supervisor.stop_all()
        remove_state(data_dir)
    _say("stopped.")
    sys.exit(exit_code)


def _processes_to_start(topology: topo.Topology, only: tuple[str, ...]) -> list[str]:
    unknown = [name for name in only if name not in topology.processes]
    if unknown:
        raise click.BadParameter(
            f"unknown process {', '.join(map(repr, unknown))}; known: {', '.join(topology.processes)}",
            param_hint="--only",
        )
    chosen = [n for n, p in topology.processes.items() if p.available and (not only or n in only or n == topo.IM)]
    return [name for name in chosen if name not in topology.replaced]  # a replaced block runs elsewhere


def _replacements(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for value in values:
        target, _, url = value.partition("=")
        if not target or not url.startswith(("http://", "https://")):
            raise click.BadParameter(f"expected BLOCK[/SERVICE]=URL, got {value!r}", param_hint="--replace")
        out[target] = url
    return out


def _print_replaced(sandbox: Sandbox) -> None:
    """The members of sandbox.local.yaml; what runs elsewhere, and what it must accept from the IM."""
    for app in sandbox.topology.applications:
        if app.process is None:
            client = app.client_id(sandbox.topology.instance)
            console.print(
                f"member {client} (sandbox.local.yaml): secret in {member.secret_file(sandbox.data_dir, client)}",
                soft_wrap=True,
            )
    for target, url in sandbox.topology.replaced.items():
        app = sandbox.topology.application_of(target.partition("/")[0])
        client = app.client_id(sandbox.topology.instance)
        console.print(
            f"[bold]{target}[/] is replaced by {url}: the IM forwards its services there with the header "
            f"Information-Mediator-Assertion (an EdDSA JWT to verify against {sandbox.im_url}/.well-known/jwks.json). "
            f"Its calls and callbacks go through the IM at {sandbox.im_url} as {client}, secret in "
            f"{member.secret_file(sandbox.data_dir, client)}.",
            soft_wrap=True,
        )


def _refuse_the_other_profiles_data(data_dir: Path, profile: str) -> None:
    """One data directory never serves both profiles (the fixtures stay out of the default sandbox)."""
    found = profiles.profile_of_data(data_dir)
    if found is None or found == profile:
        return
    start = "`sandbox up`" if found == DEFAULT_PROFILE else f"`sandbox up --profile {found}`"
    raise click.ClickException(
        f"{data_dir} holds the data of the {found} sandbox: start it with {start}, or give the {profile} "
        f"sandbox its own --data-dir (by default it uses {profiles.data_dir_of(profile)})"
    )


def _load_fixtures(sandbox: Sandbox) -> list[str]:
    from .conformance.fixtures import load_fixtures

    return load_fixtures(sandbox)


def _refuse_a_second_sandbox(data_dir: Path) -> IO:
    """The data directory's lock, once no other sandbox starts or runs from it."""
    lock = lock_data_dir(data_dir)
    state = read_state(data_dir)
    if lock is None or (state and launcher_running(state)):
        pid = f" (launcher pid {state['launcher_pid']})" if state else " (it is starting)"
        raise click.ClickException(
            f"a sandbox already runs from {data_dir}{pid}: `sandbox status` shows it, `sandbox stop` stops it"
        )
    if state is None:
        return lock
    leftovers = services_running(state)
    if leftovers:
        listed = ", ".join(f"{name} (pid {pid})" for name, pid in leftovers.items())
        raise click.ClickException(
            f"processes of an earlier sandbox from {data_dir} still run without their launcher: {listed}. "
            "`sandbox stop` stops them."
        )
    remove_state(data_dir)  # what a launcher that died left: nothing runs any more
    return lock


def _refuse_taken_ports(topology: topo.Topology, names: list[str], https_port: int | None = None) -> None:
    """Before anything starts: every port must be free (a program answering on one is not our service)."""
    ports = {name: topology.processes[name].port for name in names}
    taken = [taken_port_advice(name, port) for name, port in ports.items() if not port_free(port)]
    shared = {port for port in ports.values() if list(ports.values()).count(port) > 1}
    taken += [
        f"port {port} is given to {' and '.join(n for n, p in ports.items() if p == port)}: each needs its own "
        "(`--port NAME=PORT`)."
        for port in sorted(shared)
    ]
    if https_port is not None and not port_free(https_port):
        taken.append(
            f"port {https_port} of Consent's HTTPS listener is taken by another program: give it another port "
            "with `--consent-https-port PORT` (or SANDBOX_CONSENT_HTTPS_PORT=PORT)."
        )
    if taken:
        console.print("[bold red]sandbox could not start:[/] " + "\n".join(taken), soft_wrap=True)
        running = _another_profile_running(None)
        if running:
            console.print(running, soft_wrap=True)
        sys.exit(1)


def _stop_on_signals(supervisor: Supervisor) -> None:
    """Ctrl-C, SIGTERM (`sandbox stop`) and SIGHUP (the terminal closed) stop the sandbox and everything
    it started; `nohup sandbox up` keeps ignoring SIGHUP."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if sig == signal.SIGHUP and signal.getsignal(sig) == signal.SIG_IGN:
            continue
        signal.signal(sig, supervisor.request_stop)


def _say(message: str) -> None:
    """Print, unless the terminal is gone (after SIGHUP): stopping must go on all the same."""
    try:
        console.print(message, soft_wrap=True)
    except OSError:
        pass


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
        if name in sandbox.https_urls:
            https = sandbox.https_urls[name]
            table.add_row(f"{name} (https)", https, f"{https}/docs", "the same service with TLS (certificate below)")
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
        "administrator",
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


def _print_banner() -> None:
    console.print(Panel(profiles.BANNER, border_style="bold red", style="bold"))


def _print_conformance(sandbox: Sandbox, fixtures: list[str]) -> None:
    """The banner again, the fixtures, and how the checks reach Consent over HTTPS."""
    _print_banner()
    console.print("Conformance fixtures:\n  " + "\n  ".join(fixtures), soft_wrap=True)
    https = sandbox.https_urls.get(profiles.HTTPS_PROCESS)
    if https:
        cert = profiles.certificate_file(sandbox.data_dir).resolve()
        console.print(
            f"Consent over HTTPS: [bold]{https}[/] with a self-signed certificate made for this machine, {cert}. "
            f"For the checks: CONSENTBB_API_HOST={https} and trust that file: SSL_CERT_FILE={cert} (Python, "
            f"OpenSSL), REQUESTS_CA_BUNDLE={cert} (requests), NODE_EXTRA_CA_CERTS={cert} (Node.js), "
            f"curl --cacert {cert}.",
            soft_wrap=True,
        )
    if "identity" in sandbox.running:
        token = sandbox.data_dir / "identity" / "secrets" / "identity-admin-token"
        console.print(f"Identity's client-management token (Authorization: Bearer …): {token}.", soft_wrap=True)
    console.print(
        "After a run of the checks (they use up vouchers and transactions): `sandbox conformance reseed`.",
        soft_wrap=True,
    )


@main.command()
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=Path("var"),
    show_default=True,
    envvar="SANDBOX_DATA_DIR",
    help="A running `sandbox up`'s data directory, or the mounted credentials (SANDBOX_DATA_DIR).",
)
@click.option(
    "--new-credentials",
    type=click.Path(path_type=Path),
    default=None,
    help="Make every credential once under this directory (kept if there) and an env file per service; no call.",
)
def bootstrap(data_dir: Path, new_credentials: Path | None) -> None:
    """Register the topology in the IM and run the use cases' set-up steps against running services
    (idempotent; `sandbox up` does it, a container or a Kubernetes Job runs it)."""
    if new_credentials is not None:
        written = boot.new_credentials(new_credentials)
        _say(f"credentials in {new_credentials}; env files: {', '.join(str(p) for p in written)}")
        return
    try:
        sandbox = boot.deployed_sandbox(data_dir)
        boot.wait_for_providers(sandbox, _say)
        boot.bootstrap(sandbox)
    except (LaunchError, httpx.HTTPError, RuntimeError) as exc:
        _say(f"[bold red]bootstrap failed:[/] {exc}")
        sys.exit(1)
    _say(f"bootstrapped: {', '.join(sandbox.running)} (IM at {sandbox.im_url})")


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
@PROFILE
def status(data_dir: Path | None, profile: str) -> None:
    """Say whether a sandbox runs from this folder and list its processes (exit 0 only if all are UP)."""
    data_dir, start = data_dir or profiles.data_dir_of(profile), _up_command(profile)
    state = read_state(data_dir)
    if state is None:
        if starting(data_dir):
            console.print(f"A sandbox is starting from {data_dir}.")
        elif not data_dir.is_dir():
            console.print(f"No sandbox in this folder ({data_dir.resolve()} does not exist). `{start}` starts one.")
        elif profiles.profile_of_data(data_dir) is None:
            console.print(f"No {profile} sandbox in this folder yet ({data_dir} holds none). `{start}` starts one.")
        else:
            console.print(f"The sandbox in {data_dir} is stopped. `{start}` starts it.")
        _mention_another_profile(data_dir)
        sys.exit(1)
    running = launcher_running(state)
    leftovers = services_running(state)
    which = state.get("profile", DEFAULT_PROFILE)
    table = Table(title=f"sandbox in {data_dir}" + ("" if which == DEFAULT_PROFILE else f" (profile {which})"))
    for col in ("process", "URL", "pid", "health"):
        table.add_column(col)
    healthy = True
    with httpx.Client(timeout=1.0) as http:
        for name, info in state["processes"].items():
            health = _health(http, info["url"], state.get("launch"))
            healthy &= health == "UP"
            alive = running or name in leftovers
            table.add_row(name, info["url"], str(info["pid"]) if alive else f"{info['pid']} (gone)", health)
    console.print(table)
    for name, url in (state.get("https") or {}).items():
        console.print(f"{name} also serves HTTPS at {url} (certificate {profiles.certificate_file(data_dir)}).")
    if not running:
        console.print(
            f"The launcher (pid {state['launcher_pid']}) is gone: this state is stale. "
            + ("`sandbox stop` stops what it left running." if leftovers else "`sandbox up` starts the sandbox again.")
        )
        sys.exit(1)
    stop_command = "sandbox stop" + ("" if which == DEFAULT_PROFILE else f" --profile {which}")
    console.print(f"Running (launcher pid {state['launcher_pid']}); `{stop_command}` stops it.")
    sys.exit(0 if healthy else 1)


def _up_command(profile: str) -> str:
    return "sandbox up" + ("" if profile == DEFAULT_PROFILE else f" --profile {profile}")


def _another_profile_running(data_dir: Path | None) -> str | None:
    """'The conformance profile runs from var/conformance …' when a sandbox of another profile runs from this
    folder (the profiles' default data directories), else None."""
    for other in profiles.PROFILES:
        place = profiles.data_dir_of(other)
        state = read_state(place)
        if place != data_dir and state and launcher_running(state):
            option = "" if other == DEFAULT_PROFILE else f" --profile {other}"
            return (
                f"The {other} sandbox runs from {place} (`sandbox status{option}` shows it, "
                f"`sandbox stop{option}` stops it)."
            )
    return None


def _mention_another_profile(data_dir: Path) -> None:
    running = _another_profile_running(data_dir)
    if running:
        console.print(running, soft_wrap=True)


def _health(http: httpx.Client, url: str, launch: str | None) -> str:
    """UP when our process answers; another program answering on the port is named as such."""
    try:
        response = http.get(url + "/health")
        ours = launch is None or response.json().get("launch") == launch
    except (httpx.HTTPError, ValueError, AttributeError):
        return "DOWN"
    if not ours:
        return "another program answers"
    return "UP" if response.status_code == 200 else f"DOWN ({response.status_code})"


@main.command()
@DATA_DIR
@PROFILE
def stop(data_dir: Path | None, profile: str) -> None:
    """Stop the sandbox that runs from this folder, whichever terminal started it."""
    data_dir = data_dir or profiles.data_dir_of(profile)
    if stop_sandbox(data_dir, _say):
        console.print("sandbox stopped.")
    elif starting(data_dir):
        raise click.ClickException(f"a sandbox is starting from {data_dir}: stop it once it is up, or Ctrl-C it")
    else:
        console.print(f"No sandbox runs from {data_dir}: nothing to stop.")
        _mention_another_profile(data_dir)


@main.command()
@DATA_DIR
@PROFILE
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def reset(data_dir: Path | None, profile: str, yes: bool) -> None:
    """Wipe the sandbox's data (databases, keys, secrets, logs); the next `up` reseeds. The other profile's
    data (var/conformance inside var) is kept."""
    data_dir = data_dir or profiles.data_dir_of(profile)
    state = read_state(data_dir)
    if starting(data_dir) or (state and (launcher_running(state) or services_running(state))):
        stop_command = "sandbox stop" + ("" if profile == DEFAULT_PROFILE else f" --profile {profile}")
        raise click.ClickException(
            f"the sandbox is running: stop it first (`{stop_command}`, or Ctrl-C in its terminal)"
        )
    kept = _other_profiles_data(data_dir)
    if not yes:
        also = f" (keeping {', '.join(map(str, kept))})" if kept else ""
        click.confirm(f"Delete everything under {data_dir}{also}?", abort=True)
    _wipe(data_dir, kept)
    shared = os.environ.get("DATABASE_URL", "")
    if shared.startswith("postgresql"):
        from sqlalchemy import create_engine, text

        engine = create_engine(shared)
        with engine.begin() as conn:
            for name in topo.load().processes:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{profiles.schema_of(name, profile)}" CASCADE'))
        engine.dispose()
    console.print(f"sandbox data wiped; `{_up_command(profile)}` will reseed ({data_dir}).")


def _other_profiles_data(data_dir: Path) -> list[Path]:
    """The data directories of other profiles inside `data_dir` (var/conformance inside var)."""
    own = profiles.profile_of_data(data_dir) or DEFAULT_PROFILE
    children = [child for child in data_dir.iterdir() if child.is_dir()] if data_dir.is_dir() else []
    return [child for child in children if profiles.profile_of_data(child) not in (None, own)]


def _wipe(data_dir: Path, kept: list[Path]) -> None:
    if not kept:
        shutil.rmtree(data_dir, ignore_errors=True)
        return
    for child in data_dir.iterdir():
        if child in kept:
            continue
        if child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


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


MEMBER_DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=SANDBOX_DATA_DIR,
    show_default=True,
    help="The sandbox's data directory; the declaration goes to sandbox.local.yaml beside it.",
)


@main.group("member")
def member_group() -> None:
    """Your own application as a member: declared in sandbox.local.yaml, registered in the running IM at once."""


@member_group.command("add")
@click.argument("client", metavar="MEMBER/APPLICATION")
@MEMBER_DATA_DIR
@click.option("--name", default=None, help="The member's name [default: its code].")
@click.option("--class", "member_class", default=None, help="The member class [default: GOV].")
@click.option("--service", "services", multiple=True, metavar="NAME=URL", help="A service it offers (repeatable).")
@click.option(
    "--right",
    "rights",
    multiple=True,
    metavar="PROVIDER/SERVICE[=METHOD PATH,...]",
    help="A service it may call, e.g. PAYMENTS/g2p, or only some operations: 'PAYMENTS/g2p=POST /bulk-payment'.",
)
def member_add(
    client: str, data_dir: Path, name: str | None, member_class: str | None, services: tuple, rights: tuple
) -> None:
    """Declare MEMBER/APPLICATION (again: its former services and rights are replaced) and print its credential."""
    code, application = _member_application(client)
    try:
        change = member.add(
            data_dir,
            code,
            application,
            [member.parse_service(s) for s in services],
            [member.parse_right(r) for r in rights],
            name=name or "",
            member_class=member_class or "",
        )
    except (topo.TopologyError, LaunchError, httpx.HTTPError) as exc:
        raise click.ClickException(str(exc)) from exc
    _say_member_change(change, data_dir, "declared", "registered")
    if change.secret:
        console.print(f"IM client: [bold]{change.client_id}[/]\nIM secret: [bold]{change.secret}[/] (shown once)")
    else:
        console.print(f"IM client: [bold]{change.client_id}[/] (its secret is unchanged)")
    im = _im_url(data_dir)
    console.print(
        f"Call a service through the IM: {im}/r1/<INSTANCE>/<CLASS>/<MEMBER>/<APPLICATION>/<SERVICE>/<path> with "
        f"the headers Information-Mediator-Client: {change.client_id} and Information-Mediator-Client-Secret "
        f"(kept in {change.secret_file}).",
        soft_wrap=True,
    )


@member_group.command("remove")
@click.argument("client", metavar="MEMBER/APPLICATION")
@MEMBER_DATA_DIR
def member_remove(client: str, data_dir: Path) -> None:
    """Remove MEMBER/APPLICATION: its declaration, its credential, and (when the sandbox runs) its registration."""
    try:
        change = member.remove(data_dir, *_member_application(client))
    except (topo.TopologyError, LaunchError, httpx.HTTPError) as exc:
        raise click.ClickException(str(exc)) from exc
    _say_member_change(change, data_dir, "removed", "unregistered")


@member_group.command("list")
@MEMBER_DATA_DIR
def member_list(data_dir: Path) -> None:
    """The member applications declared in sandbox.local.yaml."""
    table = Table(title=f"members of {topo.local_file(data_dir)}")
    for column in ("IM client", "services", "may call"):
        table.add_column(column)
    for entry in member.listed(data_dir):
        services = ", ".join(f"{s['id']}={s['url']}" for s in entry["services"])
        calls = ", ".join(
            f"{c['provider']}/{c['service']}" + (" (some operations)" if c.get("endpoints") else "")
            for c in entry["calls"]
        )
        table.add_row(entry["client"], services, calls)
    console.print(table)


def _member_application(client: str) -> tuple[str, str]:
    code, _, application = client.partition("/")
    if not code or not application or "/" in application:
        raise click.BadParameter(f"expected MEMBER/APPLICATION, got {client!r}", param_hint="MEMBER/APPLICATION")
    return code, application


def _say_member_change(change: member.Change, data_dir: Path, declared: str, registered: str) -> None:
    where = "in the running sandbox's IM" if change.live else "in the IM at the next `sandbox up`"
    console.print(
        f"{change.client_id} {declared} in {topo.local_file(data_dir)}; {registered} {where}.", soft_wrap=True
    )


def _im_url(data_dir: Path) -> str:
    state = read_state(data_dir)
    if state and topo.IM in state.get("processes", {}):
        return state["processes"][topo.IM]["url"]
    return topo.load().processes[topo.IM].url


@main.group(cls=LazyGroup, lazy=DEMOS)
def demo() -> None:
    """Run a use case's whole journey over HTTP against a running sandbox."""


if __name__ == "__main__":
    main()
