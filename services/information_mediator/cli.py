"""`sandbox im ...`: operator commands of the Information Mediator."""

from __future__ import annotations

import sys

import click

from services.common.database import Database
from services.common.keys import load_or_create_ed25519

from .messagelog.verify import verify_all
from .settings import IMSettings

cli = click.Group("im", help="Information Mediator operator commands.")


def verify_log(settings: IMSettings) -> tuple[bool, str]:
    url, schema = settings.resolved_database()
    db = Database(url, schema)
    try:
        key = load_or_create_ed25519(settings.keys_dir, "information-mediator").private_key.public_key()
        with db.session() as session:
            result = verify_all(session, key)
    finally:
        db.dispose()
    if result.ok:
        return True, f"message log intact: {result.records} records verified"
    return False, f"message log BROKEN after {result.records} good records: {result.problem}"


@cli.command("verify-log")
def verify_log_command() -> None:
    """Re-compute the message log's hash chains and signatures; exit 1 at the first broken record."""
    ok, message = verify_log(IMSettings())
    click.echo(message)
    sys.exit(0 if ok else 1)
