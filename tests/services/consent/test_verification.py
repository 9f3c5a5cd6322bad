from __future__ import annotations

from tests.services.consent.conftest import HEADER, USCT, assert_400, new_individual

# An explicit default sends a check the documented way (FastAPI's parameters and dependencies) rather than the
# shortcut that takes a check asking only `dataAgreementId` and `individualId`s.
DOCUMENTED_WAY = {"requireSigned": "false"}

URL = "/service/verification/consent-records/"


def test_bulk_verification_answers_each_individual_in_one_call(client):
    people = [new_individual(client) for _ in range(6)]
    for person in people[:3]:
        client.post(f"/service/individual/record/data-agreement/{USCT}/", params={"individualId": person})
    client.post(
        f"/service/individual/record/data-agreement/{USCT}/", params={"individualId": people[3], "optIn": "false"}
    )
    refs = people + ["9369006020", "unknown-person"]  # a seeded resident by UIN, and nobody
    body = client.get(
        URL,
        params=[
            ("dataAgreementId", USCT),
            ("individualId", ",".join(refs[:4])),
            *[("individualId", r) for r in refs[4:]],
        ],
    ).json()
    answers = {a["individualId"]: a["consent"] for a in body["verifications"]}
    assert [a["individualId"] for a in body["verifications"]] == refs
    assert answers == {
        **{p: True for p in people[:3]},
        people[3]: False,
        people[4]: False,
        people[5]: False,
        "9369006020": False,
        "unknown-person": False,
    }
    assert {r["individual"] for r in body["consentRecords"]} == set(people[:4])

    posted = client.post(URL, json={"dataAgreementId": USCT, "individualIds": refs}).json()
    assert posted["verifications"] == body["verifications"]
    log = client.get("/audit/verifications/", params={"dataAgreementId": USCT, "limit": 100}).json()["verifications"]
    assert len(log) == 2 * len(refs)


def test_verification_by_external_id_and_revision(client):
    person = new_individual(client)
    ext = client.get(f"/service/individual/{person}/").json()["individual"]["externalId"]
    first = client.post(f"/service/individual/record/data-agreement/{USCT}/", params={"individualId": ext}).json()
    old_revision = first["consentRecord"]["dataAgreementRevision"]
    assert client.get(URL, params={"dataAgreementId": USCT, "individualId": ext}).json()["verifications"][0]["consent"]

    agreement = client.get(f"/config/data-agreement/{USCT}/").json()["dataAgreement"]
    new_revision = client.put(
        f"/config/data-agreement/{USCT}/",
        json={
            "dataAgreement": {
                **agreement,
                "policy": agreement["policy"]["id"],
                "purpose": agreement["purpose"] + " (amended)",
            }
        },
    ).json()["revision"]["id"]
    # consent to the earlier revision still answers for the agreement, but not for the new revision
    assert client.get(URL, params={"dataAgreementId": USCT, "individualId": person}).json()["verifications"][0][
        "consent"
    ]
    pinned = client.get(
        URL, params={"dataAgreementId": USCT, "individualId": person, "revisionId": new_revision}
    ).json()
    assert pinned["verifications"][0]["consent"] is False
    assert (
        client.get(URL, params={"dataAgreementId": USCT, "individualId": person, "revisionId": old_revision}).json()[
            "verifications"
        ][0]["consent"]
        is True
    )
    assert (
        client.get(URL, params={"dataAgreementId": USCT, "individualId": person, "requireSigned": "true"}).json()[
            "verifications"
        ][0]["consent"]
        is False
    )


def test_deleted_agreement_no_longer_verifies(client):
    agreement = client.post(
        "/config/data-agreement/",
        json={"dataAgreement": {"version": "1", "purpose": "p", "lawfulBasis": "consent", "dpia": ""}},
    ).json()["dataAgreement"]["id"]
    person = new_individual(client)
    client.post(f"/service/individual/record/data-agreement/{agreement}/", headers={HEADER: person})
    assert client.get(URL, params={"dataAgreementId": agreement, "individualId": person}).json()["verifications"][0][
        "consent"
    ]
    client.delete(f"/config/data-agreement/{agreement}/")
    assert not client.get(URL, params={"dataAgreementId": agreement, "individualId": person}).json()["verifications"][
        0
    ]["consent"]


def test_verification_listing_and_bad_input(client):
    person = new_individual(client)
    record = client.post(f"/service/individual/record/data-agreement/{USCT}/", params={"individualId": person}).json()
    listed = client.get(URL, params={"dataAgreementId": USCT}).json()
    assert (
        record["consentRecord"]["id"] in [r["id"] for r in listed["consentRecords"]] and "verifications" not in listed
    )
    read = client.get(f"/service/verification/consent-record/{record['consentRecord']['id']}/").json()
    assert (
        read["consentRecord"]["id"] == record["consentRecord"]["id"]
        and read["revision"]["objectId"] == read["consentRecord"]["id"]
    )
    assert_400(client.get(URL, params={"individualId": person}))
    assert_400(client.get(URL, params={"dataAgreementId": "nope", "individualId": person}))
    assert_400(client.get(URL, params={"dataAgreementId": USCT, "individualId": person, "revisionId": "nope"}))
    assert_400(client.get("/service/verification/consent-record/nope/"))
    assert_400(client.post(URL, json={"dataAgreementId": USCT, "individualIds": []}))
    assert_400(client.post(URL, json={"dataAgreementId": USCT, "individualIds": [str(i) for i in range(1001)]}))
    assert_400(client.post(URL, json={"individualIds": [person]}))


def test_the_shortcut_for_a_single_check_answers_as_the_documented_way(client, town):
    person, refused = new_individual(client), new_individual(client)
    client.post(f"/service/individual/record/data-agreement/{USCT}/", params={"individualId": person})
    client.post(
        f"/service/individual/record/data-agreement/{USCT}/", params={"individualId": refused, "optIn": "false"}
    )
    queries = [
        [("dataAgreementId", USCT), ("individualId", person)],
        [("dataAgreementId", USCT), ("individualId", f"{person},{refused}"), ("individualId", "nobody")],
        [("dataAgreementId", USCT), ("individualId", "9369006020")],  # a seeded resident by UIN
        [("dataAgreementId", "nope"), ("individualId", person)],
        [("dataAgreementId", ""), ("individualId", person)],
        [("dataAgreementId", USCT), ("individualId", ",")],
        [("dataAgreementId", "x"), ("dataAgreementId", USCT), ("individualId", person)],  # the last one counts
    ]
    for caller in (client, town):  # the operator; a member that may not verify USCT consent
        for query in queries:
            short = caller.get(URL, params=query)
            documented = caller.get(URL, params=[*query, *DOCUMENTED_WAY.items()])
            assert (short.status_code, short.json()) == (documented.status_code, documented.json()), query
    assert client.get(URL, params=queries[0]).json()["verifications"][0]["consent"] is True
    assert town.get(URL, params=queries[0]).status_code == 403
    log = client.get("/audit/verifications/", params={"individualId": person, "limit": 100}).json()["verifications"]
    assert len(log) == 2 * 3 + 1  # each answered check of `person` (3 queries both ways, 1 more) is logged
