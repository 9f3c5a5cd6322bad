"""`sandbox check <block> --url URL`: the conformance kit (README.md, "Check an implementation against the spec")."""

from __future__ import annotations

import importlib
import ssl
import sys
from collections.abc import Callable
from pathlib import Path

import click
import httpx
import yaml
from rich.console import Console

from .kit import Config, Deviation, Probe, Result
from .report import progress_line, terminal_table, write_reports

# block name -> module with run(probe)
BLOCKS = {
    "identity": "sandbox.check.identity",
    "payments": "sandbox.check.payments",
    "consent": "sandbox.check.consent",
    "information-mediator": "sandbox.check.information_mediator",
}


def run_block(config: Config, on_result: Callable[[Result], None] = lambda result: None) -> list[Result]:
    """Every check of one block against the implementation at `config.url`; the results in order."""
    module = importlib.import_module(BLOCKS[config.block])
    with httpx.Client(timeout=config.timeout, verify=config.verify, follow_redirects=False) as http:
        probe = Probe(config, http, on_result)
        module.run(probe)
    return probe.results


def read_deviations(path: Path) -> list[Deviation]:
    try:
        entries = yaml.safe_load(path.read_text()) or []
        return [Deviation(str(e["operation"]), str(e["problem"]), str(e["reason"])) for e in entries]
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise click.BadParameter(f"{path}: expected a list of {{operation, problem, reason}}: {exc}") from exc


@click.command()
@click.argument("block", type=click.Choice(list(BLOCKS)))
@click.option("--url", required=True, help="The implementation's base URL (where the spec's paths start).")
@click.option(
    "--admin-token",
    default="",
    envvar="SANDBOX_CHECK_ADMIN_TOKEN",
    help="Identity: the client-management token (Bearer); information-mediator: the administrator token of "
    "the Configuration Management API. Conformance profile: var/conformance/identity/secrets/identity-admin-token, "
    "var/conformance/secrets/im-admin-token.",
)
@click.option(
    "--callback-host",
    default="127.0.0.1",
    show_default=True,
    help="Payments: the host the implementation reaches the kit's callback server at.",
)
@click.option(
    "--callback-port",
    type=int,
    default=8990,
    show_default=True,
    help="Payments: the port of the kit's callback server (the conformance profile allows callbacks to it).",
)
@click.option("--cacert", type=click.Path(exists=True, dir_okay=False), help="A CA file to trust for https URLs.")
@click.option("--report-dir", type=click.Path(path_type=Path), help="Write <block>.md and <block>.html here.")
@click.option("--junit", "junit_file", type=click.Path(path_type=Path), help="Write JUnit XML to this file.")
@click.option(
    "--deviations",
    "deviations_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A YAML list of differences from the spec the implementation declares ({operation, problem (a regular "
    "expression), reason}): reported as declared, not failed. Ours: sandbox/check/deviations/<block>.yaml.",
)
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds per request.")
def check(
    block: str,
    url: str,
    admin_token: str,
    callback_host: str,
    callback_port: int,
    cacert: str | None,
    report_dir: Path | None,
    junit_file: Path | None,
    timeout: float,
    deviations_file: Path | None,
) -> None:
    """Check an implementation of a GovStack building block against the GovStack OpenAPI: every documented
    operation with valid and invalid input, each answer validated against the spec, plus the spec's workflows.
    Exits 1 when any check fails."""
    console = Console(width=None if sys.stdout.isatty() else 150)
    config = Config(
        block=block,
        url=url.rstrip("/"),
        admin_token=admin_token,
        callback_host=callback_host,
        callback_port=callback_port,
        timeout=timeout,
        verify=ssl.create_default_context(cafile=cacert) if cacert else True,
        deviations=read_deviations(deviations_file) if deviations_file else [],
    )
    console.print(f"Checking {block} at {config.url} against the GovStack OpenAPI ...")
    results = run_block(config, lambda result: progress_line(console, result))
    terminal_table(console, block, config.url, results)
    for path in write_reports(block, config.url, results, report_dir, junit_file):
        console.print(f"Report: {path}")
    if not all(result.passed for result in results):
        sys.exit(1)
