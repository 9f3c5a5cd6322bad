"""The permit's reference data and its state machine."""

from __future__ import annotations

import pytest

from services.common import demo_world
from usecases.construction_permit import rules, states


def test_every_parcel_is_owned_by_a_demo_resident():
    vids = {r["vid"] for r in demo_world.residents()}
    assert rules.parcels() and all(p.owner_vid in vids for p in rules.parcels().values())


def test_fees_are_whole_dollars_rounded_up_and_refuse_empty_buildings():
    house = rules.building_types()["single_family_house"]
    assert house.fee(180) == 150 + 270
    assert house.fee(180.2) == 421  # 150 + 270.3, rounded up
    with pytest.raises(ValueError):
        house.fee(0)


def test_zoning_decides_which_buildings_a_parcel_allows():
    types, parcels = rules.building_types(), rules.parcels()
    assert rules.allowed_on(parcels["SBX-0101-0042"], types["single_family_house"])
    assert not rules.allowed_on(parcels["SBX-0101-0042"], types["industrial_building"])


def test_every_clearance_has_an_authority():
    for building in rules.building_types().values():
        assert set(building.clearances) <= set(states.CLEARANCE_ROLES)


HAPPY_PATH = [
    ("submit", "applicant"),
    ("propose_visit", "permit_officer"),
    ("choose_visit_slot", "applicant"),
    ("record_visit", "permit_officer"),
    ("approve_in_principle", "permit_officer"),
    ("confirm_payment", states.SYSTEM),
    ("grant_clearance", "utilities_officer"),
    ("all_cleared", states.SYSTEM),
    ("sign", "mayor"),
]


def test_the_happy_path_ends_with_an_issued_permit():
    state = "draft"
    for action, role in HAPPY_PATH:
        state = states.apply(state, action, {role})
    assert state == "issued"


def test_every_action_is_refused_to_the_wrong_role_and_in_the_wrong_state():
    for name, rule in states.ACTIONS.items():
        allowed_state = next(iter(rule.from_states))
        with pytest.raises(states.Forbidden):
            states.apply(allowed_state, name, {"someone_else"})
        for state in states.STATES - rule.from_states:
            with pytest.raises(states.InvalidTransition):
                states.apply(state, name, set(rule.roles))


def test_final_states_offer_nothing():
    every_role = {r for rule in states.ACTIONS.values() for r in rule.roles}
    assert all(states.available(s, every_role) == [] for s in states.FINAL_STATES)
    assert states.available("submitted", {"applicant"}) == []
    assert "approve_in_principle" in states.available("submitted", {"permit_officer"})
