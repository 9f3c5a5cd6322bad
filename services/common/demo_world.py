"""The seeded demo cast every service draws from (ARCHITECTURE §6): residents, officers, the sandbox OTP."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

WORLD_FILE = Path(__file__).with_name("demo_world.yaml")


@cache
def load() -> dict[str, Any]:
    return yaml.safe_load(WORLD_FILE.read_text())


def residents() -> list[dict[str, Any]]:
    return load()["residents"]


def with_role(role: str) -> list[dict[str, Any]]:
    return [r for r in residents() if role in r["roles"]]


def functional_id(uin: str) -> str:
    """The resident's payee functional id: 20 characters, the Payments 1.0 API's `PayeeFunctionalID` format.

    A registry names its beneficiaries to Payments by this id, never by the UIN (the foundational id)."""
    return next(r["functional_id"] for r in residents() if r["uin"] == uin)


def sandbox_otp() -> str:
    return str(load()["otp"])
