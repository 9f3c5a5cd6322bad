"""Who may act for which programme and source BB: the caller the IM vouches for, against the configuration.

A programme's fund is spent only by the application owning the programme (`programmes[].owner` in
seed.yaml, kept in `programmes.owner_client`). A source BB id / registering institution named in a request
must be one the calling application is configured for (`sources` in seed.yaml; spec 9.1 step 6), so the
body alone never decides. Without a verified caller (IM assertion checks switched off) there is no one to
check, and both pass.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from services.common.assertion import VerifiedCall
from services.common.errors import DomainError

from .g2p.models import Programme
from .seed import load_seed
from .settings import PaymentsSettings


class NotAllowed(DomainError):
    """The calling application may not do this (answered 403, in the shape of the route called)."""

    status_code = 403


@cache
def _sources(seed_file: Path) -> dict[str, frozenset[str]]:
    configured = load_seed(seed_file).get("sources") or {}
    return {client: frozenset(str(s) for s in ids) for client, ids in configured.items()}


def check_source(settings: PaymentsSettings, caller: VerifiedCall | None, source: str | None) -> None:
    if caller is None or not source:
        return
    if source not in _sources(settings.seed_file).get(caller.client, frozenset()):
        raise NotAllowed(f"source {source!r} is not configured for the calling application")


def check_owner(programme: Programme, caller: str | None) -> None:
    """`caller` is the verified client id, None when no caller is known."""
    if caller is not None and programme.owner_client != caller:
        raise NotAllowed(f"programme {programme.code} belongs to another application")
