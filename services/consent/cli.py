"""`sandbox consent audit`: recompute every revision chain and signature; exit 1 on any break."""

from __future__ import annotations

import json
import sys

import click
from sqlalchemy import inspect

from services.common.database import Database
from services.consent.audit import service as audit
from services.consent.settings import ConsentSettings

cli = click.Group("consent", help="Consent building block tools.")


@cli.command("audit")
@click.option(
    "--database-url",
    envvar="CONSENT_DATABASE_URL",
    default=None,
    help="SQLAlchemy URL (default: the service's own, from CONSENT_* / DATABASE_URL settings)",
)
@click.option("--database-schema", envvar="CONSENT_DATABASE_SCHEMA", default=None, help="PostgreSQL schema")
@click.option("--data-dir", envvar="CONSENT_DATA_DIR", default=None, help="Data directory (SQLite default)")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON")
def audit_command(database_url: str | None, database_schema: str | None, data_dir: str | None, as_json: bool) -> None:
    """Verify the hash chain of every Policy, DataAgreement and ConsentRecord, and every signature."""
    overrides = {
        k: v
        for k, v in (("database_url", database_url), ("database_schema", database_schema), ("data_dir", data_dir))
        if v is not None
    }
    settings = ConsentSettings(**overrides)
    db = Database(*settings.resolved_database())
    try:
        if not inspect(db.engine).has_table("consent_revision"):
            click.echo("no Consent database there (start the service once, or pass --database-url)", err=True)
            sys.exit(2)
        with db.session() as session:
            report = audit.verify_all(session)
    finally:
        db.dispose()
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(f"checked {report['objectsChecked']} objects, {report['revisionsChecked']} revisions")
        for item in report["breaks"]:
            click.echo(
                f"BREAK {item['schemaName']} {item['objectId']} revision {item['seq']} "
                f"({item['revisionId']}): {item['problem']}"
            )
        click.echo("OK: every chain and signature verifies" if report["ok"] else f"{len(report['breaks'])} break(s)")
    sys.exit(0 if report["ok"] else 1)


if __name__ == "__main__":
    cli()
