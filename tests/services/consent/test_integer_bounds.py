"""Integers beyond what the columns (INTEGER) or SQL (int64 OFFSET/LIMIT) hold are a 400, not a 500."""

from __future__ import annotations

import pytest

from tests.services.consent.conftest import assert_400

HUGE = 2611238595143579729920
POLICY = {"name": "P", "version": "1", "url": "https://example.org/p"}
LISTS = ["/config/policies/", "/config/data-agreements/", "/audit/consent-records/", "/audit/revisions/"]


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("name", ["offset", "limit"])
@pytest.mark.parametrize("value", [HUGE, 2**31])
def test_huge_paging_is_a_400(client, path, name, value):
    assert_400(client.get(path, params={name: value}))


def test_largest_offset_still_answers(client):
    assert client.get("/config/policies/", params={"offset": 2**31 - 1, "limit": 2**31 - 1}).json()["policies"] == []


@pytest.mark.parametrize("days", [HUGE, 2**31, 2**63])
def test_huge_retention_is_a_400_and_stores_nothing(client, days):
    before = client.get("/config/policies/", params={"limit": 1000}).json()["policies"]
    assert_400(client.post("/config/policy/", json={"policy": {**POLICY, "dataRetentionPeriodDays": days}}))
    policy_id = client.post("/config/policy/", json={"policy": POLICY}).json()["policy"]["id"]
    bad = {"policy": {**POLICY, "version": "2", "dataRetentionPeriodDays": days}}
    assert_400(client.put(f"/config/policy/{policy_id}/", json=bad))
    after = client.get("/config/policies/", params={"limit": 1000}).json()["policies"]
    assert len(after) == len(before) + 1
    assert client.get(f"/config/policy/{policy_id}/").json()["policy"]["version"] == "1"
    assert len(client.get(f"/config/policy/{policy_id}/revisions/").json()["revisions"]) == 1


def test_largest_retention_is_stored(client):
    days = 2**31 - 1
    created = client.post("/config/policy/", json={"policy": {**POLICY, "dataRetentionPeriodDays": days}})
    assert created.status_code == 200, created.text
    assert (
        client.get(f"/config/policy/{created.json()['policy']['id']}/").json()["policy"]["dataRetentionPeriodDays"]
        == days
    )
