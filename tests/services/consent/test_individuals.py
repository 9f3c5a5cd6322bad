from __future__ import annotations

from fastapi.testclient import TestClient

from services.consent.app import create_app
from services.consent.seed import MUNICIPAL_POLICY, PERMIT_AGREEMENT, USCT_AGREEMENT, individual_id_for
from tests.services.consent.conftest import OPERATOR, assert_400
from tests.support import mediated_client


def test_seeded_residents_are_individuals_with_stable_ids(client):
    found = client.get("/service/individuals/", params={"externalId": "9369006020"}).json()["individuals"]
    assert found == [
        {
            "id": individual_id_for("9369006020"),
            "externalId": "9369006020",
            "externalIdType": "uin",
            "identityProviderId": "SANDBOX/GOV/IDENTITY-AUTHORITY/IDENTITY",
        }
    ]
    assert len(client.get("/config/individuals/", params={"limit": 1000}).json()["individuals"]) == 37


def test_the_seed_names_the_im_members_its_settings_give(settings):
    members = {
        "identity_provider_id": "TEST/GOV/IDP/IDENTITY",
        "welfare_member": "TEST/GOV/WELFARE",
        "municipality_member": "TEST/GOV/TOWN",
    }
    app = create_app(settings.model_copy(update={**members, "require_im_assertion": False}))
    with TestClient(app) as client:
        usct = client.get(f"/config/data-agreement/{USCT_AGREEMENT}/").json()["dataAgreement"]
        permit = client.get(f"/config/data-agreement/{PERMIT_AGREEMENT}/").json()["dataAgreement"]
        found = client.get("/service/individuals/", params={"externalId": "9369006020"}).json()["individuals"]
        policy = client.get(f"/config/policy/{MUNICIPAL_POLICY}/").json()["policy"]
    assert usct["controller"]["id"] == "TEST/GOV/WELFARE"
    assert permit["controller"]["id"] == policy["owner"] == "TEST/GOV/TOWN"
    assert found[0]["identityProviderId"] == "TEST/GOV/IDP/IDENTITY"


def test_individual_create_read_update_list(client):
    for base in ("/config", "/service"):
        ext = f"{base}-person"
        created = client.post(
            f"{base}/individual/", json={"individual": {"externalId": ext, "externalIdType": "email"}}
        )
        individual = created.json()["individual"]
        assert individual["externalId"] == ext and individual["id"]
        assert client.get(f"{base}/individual/{individual['id']}/").json()["individual"] == individual
        assert_400(
            client.post(f"{base}/individual/", json={"individual": {"externalId": ext, "externalIdType": "email"}})
        )
    listing = client.get("/service/individuals/", params={"externalId": "/service-person"}).json()["individuals"]
    assert len(listing) == 1
    person = listing[0]["id"]
    updated = client.put(
        f"/service/individual/{person}/",
        json={"individual": {"externalId": "new-ext", "externalIdType": "email", "identityProviderId": "idp"}},
    ).json()["individual"]
    assert updated == {"id": person, "externalId": "new-ext", "externalIdType": "email", "identityProviderId": "idp"}
    # cannot take someone else's external id
    assert_400(
        client.put(
            f"/service/individual/{person}/",
            json={"individual": {"externalId": "/config-person", "externalIdType": "email"}},
        )
    )


def test_individual_bad_input(client):
    assert_400(client.post("/service/individual/", json={"individual": {"externalId": 5}}))
    assert_400(client.post("/service/individual/", json={}))
    assert_400(client.get("/service/individual/nope/"))
    assert_400(client.get("/config/individual/nope/"))
    assert_400(client.put("/service/individual/nope/", json={"individual": {"externalId": "x"}}))
    assert_400(client.get("/service/individuals/", params={"limit": -3}))


def test_seed_is_idempotent_across_restarts(settings):

    from services.consent.app import create_app

    snapshots = []
    for _ in range(2):
        with mediated_client(create_app(settings), headers=OPERATOR) as client:
            snapshots.append(
                (
                    client.get("/config/individuals/", params={"limit": 1000}).json(),
                    client.get("/audit/data-agreements/").json(),
                    client.get("/config/policies/").json(),
                    client.get("/audit/revisions/", params={"limit": 1000}).json(),
                )
            )
    assert snapshots[0] == snapshots[1]
    assert len(snapshots[0][3]["revisions"]) == 4  # 2 policies + 2 agreements, written once
