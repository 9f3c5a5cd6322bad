"""Watching the Consent BB's deliveries to the use case's webhook (read through the IM, as `setup.py` does),
so a test can act only after Consent has called back about a change."""

from __future__ import annotations

import httpx

from sandbox.demo_http import wait
from tests.e2e.launcher import RunningSandbox

USCT = "SANDBOX/GOV/SOCIAL-WELFARE/USCT"
CONSENT_CONFIG = "/r1/SANDBOX/GOV/DATA-PROTECTION-AUTHORITY/CONSENT/consent/config"


def _get(stack: RunningSandbox, path: str) -> dict:
    response = httpx.get(
        stack.url("information_mediator") + CONSENT_CONFIG + path,
        params={"limit": 1000},
        headers={"Information-Mediator-Client": USCT, "Information-Mediator-Client-Secret": stack.secret(USCT)},
        timeout=20,
    )
    response.raise_for_status()
    return response.json()


def deliveries(stack: RunningSandbox) -> list[dict]:
    """Every delivery Consent queued for the use case's `/callbacks/consent` webhook."""
    hooks = [w for w in _get(stack, "/webhooks/")["webhooks"] if w["payloadUrl"].endswith("/callbacks/consent")]
    assert len(hooks) == 1, hooks
    return _get(stack, f"/webhook/{hooks[0]['id']}/deliveries/")["deliveries"]


def known_deliveries(stack: RunningSandbox) -> set[str]:
    return {d["id"] for d in deliveries(stack)}


def wait_for_new_deliveries(stack: RunningSandbox, before: set[str], events: set[str], timeout: float = 30) -> None:
    """Waits until Consent has delivered the `events` queued since `before`, and nothing newer is pending."""

    def done() -> bool:
        new = [d for d in deliveries(stack) if d["id"] not in before]
        assert not [d for d in new if d["status"] == "failed"], new
        return events <= {d["event"] for d in new} and all(d["status"] == "delivered" for d in new)

    wait(f"Consent's webhook deliveries {sorted(events)}", done, timeout)
