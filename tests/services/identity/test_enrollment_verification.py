"""Enrollment (create, multi-step, update, history, VIDs) and yes/no verification."""

from __future__ import annotations

import uuid
from datetime import date

from services.common import demo_world
from services.identity.identities.numbers import verhoeff_valid
from tests.services.identity.helpers import ADMIN_TOKEN, KOFI

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def enrollment(enrollment_id: str, fields: dict, process: str = "NEW", **extra) -> dict:
    return {
        "id": "govstack.enrollment",
        "version": "v1",
        "requesttime": "2026-11-22T10:00:00.000Z",
        "request": {
            "id": enrollment_id,
            "refId": "10001_10002",
            "process": process,
            "source": "REGISTRATION_CLIENT",
            "offlineMode": False,
            "fields": fields,
            **extra,
        },
    }


NEW_FIELDS = {
    "fullName": '[ { "language" : "eng", "value" : "Zara Okonkwo" } ]',
    "gender": '[ { "language" : "eng", "value" : "Female" } ]',
    "dateOfBirth": "2001-02-03",
    "city": '[ { "language" : "eng", "value" : "Kenitra" } ]',
    "postalCode": 14022,
    "email": "zara@example.org",
    "aliases": ["Zara O."],
}


def verify(http, individual_id: str, *predicates, request_id: str | None = None) -> dict:  # noqa: ANN001
    response = http.post(
        "/v1/verification",
        headers=ADMIN,
        json={
            "requestId": request_id or uuid.uuid4().hex,
            "individualId": individual_id,
            "predicates": list(predicates),
        },
    )
    assert response.status_code == 200, response.text
    return response.json()


def unique_email() -> str:
    return f"zara.{uuid.uuid4().hex[:10]}@example.org"


def enroll_new(http, **fields) -> str:  # noqa: ANN001
    """A new resident (NEW_FIELDS with an e-mail address of its own, or `fields`); returns the VID."""
    body = enrollment(uuid.uuid4().hex, {**NEW_FIELDS, "email": unique_email(), **fields})
    response = http.put("/enrollment", headers=ADMIN, json=body)
    assert response.status_code == 201, response.text
    return response.json()["response"][0]["vid"]


def test_single_step_enrollment_creates_an_identity(http):
    enrollment_id = uuid.uuid4().hex
    response = http.put("/enrollment", headers=ADMIN, json=enrollment(enrollment_id, dict(NEW_FIELDS)))
    assert response.status_code == 201
    body = response.json()
    assert body["errors"] == [] and body["id"] == "govstack.enrollment"
    packet = body["response"][0]
    assert packet["id"] == enrollment_id and packet["process"] == "NEW" and packet["status"] == "PROCESSED"
    assert verhoeff_valid(packet["vid"])
    answer = verify(
        http,
        packet["vid"],
        {"type": "name_matches", "value": "zara  OKONKWO"},
        {"type": "birthdate_equals", "value": "2001-02-03"},
        {"type": "name_matches", "value": "Zara O."},
        {"type": "locality_equals", "value": "kenitra"},
    )
    assert answer["verified"] is True
    # a retry with the same enrollment id replays the first answer and creates nothing new
    retry = http.put("/enrollment", headers=ADMIN, json=enrollment(enrollment_id, dict(NEW_FIELDS)))
    assert retry.status_code == 201 and retry.json()["response"][0]["vid"] == packet["vid"]


def test_multi_step_enrollment_merges_steps_until_finalized(http):
    enrollment_id = uuid.uuid4().hex
    first = http.put(
        "/enrollment",
        headers=ADMIN,
        json=enrollment(enrollment_id, {"fullName": "Step Person", "gender": "male"}, finalize=False),
    )
    assert first.status_code == 200 and first.json()["response"][0]["status"] == "PENDING"
    assert "vid" not in first.json()["response"][0]
    second = http.put(
        "/enrollment",
        headers=ADMIN,
        json=enrollment(enrollment_id, {"dateOfBirth": "1990-05-06", "pin": "4321"}, finalize=True),
    )
    assert second.status_code == 201, second.text
    vid = second.json()["response"][0]["vid"]
    answer = verify(
        http,
        vid,
        {"type": "name_matches", "value": "Step Person"},
        {"type": "gender_equals", "value": "MALE"},
        {"type": "birthdate_equals", "value": "1990-05-06"},
    )
    assert answer["verified"] is True


def test_update_enrollment_changes_only_given_fields_and_keeps_history(http):
    old_email, new_email = unique_email(), unique_email()
    vid = enroll_new(http, email=old_email)
    update = http.put(
        "/enrollment",
        headers=ADMIN,
        json=enrollment(uuid.uuid4().hex, {"VID": vid, "email": new_email}, process="UPDATE"),
    )
    assert update.status_code == 200, update.text
    assert (
        verify(
            http,
            vid,
            {"type": "email_matches", "value": new_email},
            {"type": "name_matches", "value": "Zara Okonkwo"},
        )["verified"]
        is True
    )
    history = http.get(f"/identities/{vid}/history", headers=ADMIN).json()["history"]
    assert [h["action"] for h in history] == ["created", "alias_added", "updated"]
    assert history[-1]["changes"] == {"email": {"old": old_email, "new": new_email}}
    unknown = http.put(
        "/enrollment",
        headers=ADMIN,
        json=enrollment(uuid.uuid4().hex, {"VID": "2222222222", "email": "a@b.cd"}, process="UPDATE"),
    )
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["errorCode"] == "invalid_identifier"


def test_enrollment_refuses_bad_input_and_changes_nothing(http):
    cases = [
        ({"fullName": "No Birthdate"}, "missing_field"),
        ({"fullName": "Bad Date", "dateOfBirth": "31/31/2020"}, "invalid_field"),
        ({"fullName": "Future", "dateOfBirth": "2999-01-01"}, "invalid_field"),
        ({"fullName": "Mail", "dateOfBirth": "2000-01-01", "email": "nope"}, "invalid_field"),
        ({"fullName": "Pin", "dateOfBirth": "2000-01-01", "pin": "12"}, "invalid_field"),
    ]
    for fields, code in cases:
        enrollment_id = uuid.uuid4().hex
        response = http.put("/enrollment", headers=ADMIN, json=enrollment(enrollment_id, fields))
        assert response.status_code == 400, (fields, response.text)
        assert response.json()["errors"][0]["errorCode"] == code
    for body in ({}, {"request": {"id": ""}}, {"request": {"id": "x", "process": "DELETE"}}):
        assert http.put("/enrollment", headers=ADMIN, json=body).status_code == 400
    broken = http.put("/enrollment", headers={**ADMIN, "content-type": "application/json"}, content=b"{")
    assert broken.status_code == 400 and broken.json()["errors"][0]["errorCode"] == "invalid_request"


def test_enrollment_and_verification_need_a_trusted_caller(http):
    assert http.put("/enrollment", json=enrollment("x", dict(NEW_FIELDS))).status_code == 401
    assert (
        http.post(
            "/v1/verification", json={"requestId": "r", "individualId": KOFI["vid"], "predicates": [{"type": "exists"}]}
        ).status_code
        == 401
    )
    forged = http.post(
        "/v1/verification",
        headers={"Information-Mediator-Assertion": "forged"},
        json={"requestId": "r", "individualId": KOFI["vid"], "predicates": [{"type": "exists"}]},
    )
    assert forged.status_code == 401


def test_verification_answers_only_booleans(http):
    age = date.today().year - 1982 - ((date.today().month, date.today().day) < (4, 17))
    answer = verify(
        http,
        KOFI["vid"],
        {"type": "age_over", "value": 18},
        {"type": "age_over", "value": age + 1},
        {"type": "age_under", "value": 100},
        {"type": "name_matches", "value": "Kofi Mensah"},
        {"type": "name_matches", "value": "Kofi Mensa"},
        {"type": "exists"},
    )
    assert [r["result"] for r in answer["results"]] == [True, False, True, True, False, True]
    assert answer["verified"] is False
    assert "1982" not in str(answer) and "Kofi" not in str(answer)
    missing = verify(http, "2222222222", {"type": "exists"}, {"type": "age_over", "value": 0})
    assert missing["verified"] is False and [r["result"] for r in missing["results"]] == [False, False]


def test_verification_is_idempotent_by_request_id_and_validates_input(http):
    request_id = uuid.uuid4().hex
    first = verify(http, KOFI["vid"], {"type": "exists"}, request_id=request_id)
    again = verify(http, KOFI["vid"], {"type": "age_over", "value": 150}, request_id=request_id)
    assert again == first
    for body in (
        {},
        {"requestId": "a", "individualId": KOFI["vid"], "predicates": []},
        {"requestId": "a", "individualId": KOFI["vid"], "predicates": [{"type": "uin_is"}]},
        {"requestId": "a", "individualId": KOFI["vid"], "predicates": [{"type": "age_over", "value": "18"}]},
        {
            "requestId": "a",
            "individualId": KOFI["vid"],
            "predicates": [{"type": "birthdate_equals", "value": "yesterday"}],
        },
    ):
        response = http.post("/v1/verification", headers=ADMIN, json=body)
        assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_vids_can_be_issued_and_revoked(http):
    vid = enroll_new(http)
    second = http.post(f"/identities/{vid}/vids", headers=ADMIN)
    assert second.status_code == 201
    new_vid = second.json()["vid"]
    assert new_vid != vid and verhoeff_valid(new_vid)
    assert http.delete(f"/identities/vids/{vid}", headers=ADMIN).json()["status"] == "revoked"
    assert verify(http, vid, {"type": "exists"})["verified"] is False
    assert verify(http, new_vid, {"type": "exists"})["verified"] is True
    actions = [h["action"] for h in http.get(f"/identities/{new_vid}/history", headers=ADMIN).json()["history"]]
    assert actions[-2:] == ["vid_issued", "vid_revoked"]


def test_an_email_address_names_one_resident(http):
    enrollment_id = uuid.uuid4().hex
    taken = dict(NEW_FIELDS, email="Kofi.Mensah@Example.org ")  # the demo resident's, in other letters
    refused = http.put("/enrollment", headers=ADMIN, json=enrollment(enrollment_id, taken))
    assert refused.status_code == 409, refused.text
    assert "response" not in refused.json()  # enrollment.yaml's `response` is an array, not nullable
    assert refused.json()["errors"] == [
        {"errorCode": "duplicate_email", "message": "this e-mail address belongs to another resident"}
    ]
    # nothing was created: the same enrollment id with an address of its own goes through
    own = http.put("/enrollment", headers=ADMIN, json=enrollment(enrollment_id, dict(taken, email=unique_email())))
    assert own.status_code == 201, own.text
    vid = own.json()["response"][0]["vid"]

    def update(email: str):  # noqa: ANN202
        return http.put(
            "/enrollment", headers=ADMIN, json=enrollment(uuid.uuid4().hex, {"VID": vid, "email": email}, "UPDATE")
        )

    moved = update("amina.haddad@example.org")
    assert moved.status_code == 409 and moved.json()["errors"][0]["errorCode"] == "duplicate_email"
    assert verify(http, "2405176278", {"type": "email_matches", "value": "amina.haddad@example.org"})["verified"]
    assert not verify(http, vid, {"type": "email_matches", "value": "amina.haddad@example.org"})["verified"]
    mine = unique_email()
    assert update(mine).status_code == 200
    assert update(mine.upper()).status_code == 200  # one's own address, in other letters, is no conflict


def test_a_multi_step_enrollment_is_checked_when_finalized(http):
    enrollment_id = uuid.uuid4().hex
    step = http.put(
        "/enrollment",
        headers=ADMIN,
        json=enrollment(enrollment_id, {"fullName": "Late Mail", "email": "kofi.mensah@example.org"}, finalize=False),
    )
    assert step.status_code == 200
    final = http.put("/enrollment", headers=ADMIN, json=enrollment(enrollment_id, {"dateOfBirth": "1990-01-01"}))
    assert final.status_code == 409 and final.json()["errors"][0]["errorCode"] == "duplicate_email"


def test_the_demo_world_gives_every_resident_an_address_of_their_own():
    emails = [r["email"].strip().lower() for r in demo_world.residents() if r.get("email")]
    assert emails and len(emails) == len(set(emails))
