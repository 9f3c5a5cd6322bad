"""The life of a permit application: every action, who may take it, from which states, and where it leads.

This table is the one place the journey's order lives; the service checks the facts an action needs (the
owner's consent, the documents, the bill paid) before applying it.
"""

from __future__ import annotations

from dataclasses import dataclass

SYSTEM = "system"  # actions the municipality's own back office takes (e.g. on Payments' mark-bill-paid)
CLEARANCE_ROLES = {"civil_protection": "civil_protection_officer", "utilities": "utilities_officer"}


@dataclass(frozen=True)
class Action:
    roles: frozenset[str]
    from_states: frozenset[str]
    to_state: str


def _action(roles: set[str], from_states: set[str], to_state: str) -> Action:
    return Action(frozenset(roles), frozenset(from_states), to_state)


ACTIONS: dict[str, Action] = {
    "submit": _action({"applicant"}, {"draft", "action_needed"}, "submitted"),
    "request_documents": _action({"permit_officer"}, {"submitted", "visit_done"}, "action_needed"),
    "propose_visit": _action({"permit_officer"}, {"submitted"}, "visit_proposed"),
    "choose_visit_slot": _action({"applicant"}, {"visit_proposed"}, "visit_scheduled"),
    "record_visit": _action({"permit_officer"}, {"visit_scheduled"}, "visit_done"),
    "approve_in_principle": _action({"permit_officer"}, {"submitted", "visit_done"}, "awaiting_payment"),
    "reject": _action({"permit_officer"}, {"submitted", "visit_done"}, "rejected"),
    "confirm_payment": _action({SYSTEM}, {"awaiting_payment"}, "in_clearance"),
    "grant_clearance": _action(set(CLEARANCE_ROLES.values()), {"in_clearance"}, "in_clearance"),
    "all_cleared": _action({SYSTEM}, {"in_clearance"}, "awaiting_signature"),
    "refuse_clearance": _action(set(CLEARANCE_ROLES.values()), {"in_clearance"}, "rejected"),
    "sign": _action({"mayor"}, {"awaiting_signature"}, "issued"),
}
STATES = frozenset({"draft"} | {s for a in ACTIONS.values() for s in a.from_states | {a.to_state}})
FINAL_STATES = frozenset({"issued", "rejected"})


class Forbidden(Exception):
    """The actor's roles do not allow the action (403)."""


class InvalidTransition(Exception):
    """The action is not possible in the application's current state (409)."""


def apply(state: str, action: str, roles: set[str]) -> str:
    """The state after `action`, or Forbidden / InvalidTransition. Unknown actions are a programming error."""
    rule = ACTIONS[action]
    if not rule.roles & roles:
        needed = " or ".join(r.replace("_", " ") for r in sorted(rule.roles))
        raise Forbidden(f"{action.replace('_', ' ')} needs the role of {needed}")
    if state not in rule.from_states:
        raise InvalidTransition(
            f"{action.replace('_', ' ')} is not possible while the application is {state.replace('_', ' ')}"
        )
    return rule.to_state


def available(state: str, roles: set[str]) -> list[str]:
    """The actions these roles may take now (what a page offers as buttons)."""
    return [name for name, rule in ACTIONS.items() if state in rule.from_states and rule.roles & roles]
