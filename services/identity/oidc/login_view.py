"""What the login pages show besides the forms: the masked phone, the resend wait, the sandbox's demo logins and
errors in words."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.orm import Session

from services.common import demo_world
from services.identity.identities.service import find_by_individual_id
from services.identity.oidc import service
from services.identity.oidc.models import AuthTransaction
from services.identity.settings import IdentitySettings

DOT = "\u2022"


def mask_phone(phone: Any) -> str | None:
    """`+999 76609 9064` -> `+999 ••• ••64`: the country code and the last two digits, as eSignet shows it."""
    if not isinstance(phone, str):
        return None
    digits = re.sub(r"\D", "", phone)
    if len(digits) < 4:
        return None
    country = phone.strip().split()[0] if phone.strip().startswith("+") and " " in phone.strip() else ""
    return f"{country} {DOT * 3} {DOT * 2}{digits[-2:]}".strip()


def otp_context(
    session: Session, settings: IdentitySettings, transaction: AuthTransaction, individual_id: str
) -> dict[str, Any]:
    """The OTP page's details: the id the code was sent for, the masked phone, seconds before a resend."""
    identity = find_by_individual_id(session, individual_id)
    phone = identity.attributes.get("phone_number") if identity is not None else None
    return {
        "otp_sent": True,
        "individual_id": individual_id,
        "masked_phone": mask_phone(phone),
        "resend_wait": service.otp_resend_wait(settings, transaction),
    }


def role_label(role: str) -> str:
    """`enrollment_officer` -> `Enrollment officer`."""
    return role.replace("_", " ").capitalize()


def demo_logins(settings: IdentitySettings) -> list[dict[str, str]] | None:
    """The seeded residents (name, VID, role) for the sandbox hint; None outside sandbox mode or without the seed."""
    if not (settings.sandbox_mode and settings.seed):
        return None
    return [
        {"name": r["name"], "vid": r["vid"], "role": ", ".join(role_label(x) for x in r["roles"])}
        for r in demo_world.residents()
    ]


def sentence(message: str) -> str:
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


def in_words(exc: service.AuthFailed, settings: IdentitySettings, transaction: AuthTransaction, factor: str) -> str:
    """An authentication refusal as the resident should read it."""
    left = max(settings.otp_max_attempts - transaction.failed_attempts, 0)
    attempts = f"You have {left} attempt{'s' if left != 1 else ''} left."
    if exc.code == "invalid_identifier":
        return f"We do not know this UIN or VID. Check the number and try again. {attempts}"
    if exc.code == "auth_failed" and exc.message.startswith("authentication failed"):  # checked, and wrong
        wrong = f"That {({'OTP': 'code', 'PIN': 'PIN'}).get(factor, 'answer')} is not right."
        _, _, locked = exc.message.partition("; ")
        return f"{wrong} {sentence(locked) if 'locked' in locked else attempts}"
    return sentence(exc.message)


def stopped_reason(settings: IdentitySettings) -> str:
    return (
        f"The code, PIN or number was wrong {settings.otp_max_attempts} times, so for your security this login "
        "has been stopped. No one has been logged in."
    )
