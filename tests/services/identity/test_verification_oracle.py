"""The yes/no verification API is not an oracle (issue 17, finding 4: 269 questions gave a minor's exact birth
date): a relying party may ask a bounded number of distinct questions about one person a day, and every
question is recorded for the administrator."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import httpx

from tests.services.identity.helpers import ADMIN_TOKEN, AMINA_VID
from tests.services.identity.test_enrollment_verification import ADMIN, enroll_new

QUOTA = 20  # the default verification_quota


def ask(http: httpx.Client, vid: str, *predicates: dict) -> httpx.Response:
    body = {"requestId": uuid.uuid4().hex, "individualId": vid, "predicates": list(predicates)}
    return http.post("/v1/verification", json=body, headers=ADMIN)


def enroll_minor(http: httpx.Client) -> tuple[str, str]:
    born = (date.today() - timedelta(days=12 * 365 + 100)).isoformat()
    return enroll_new(http, dateOfBirth=born, fullName="Minor Person"), born


def test_a_relying_party_cannot_rebuild_a_birth_date_by_questions(http):
    vid, born = enroll_minor(http)
    answers = [ask(http, vid, {"type": "age_over", "value": age}) for age in range(QUOTA)]
    assert [a.status_code for a in answers] == [200] * QUOTA
    # the attack goes on with birth-date guesses: refused from the first question past the quota ...
    guess = {"type": "birthdate_equals", "value": born}
    refused = ask(http, vid, guess)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"] == "quota_exceeded"
    assert "20 distinct questions" in refused.json()["error_description"]
    assert int(refused.headers["retry-after"]) > 0 and "result" not in refused.text
    # ... a batch that would cross it is refused whole ...
    assert ask(http, vid, {"type": "age_over", "value": 0}, guess).status_code == 429
    # ... while a question already asked today is answered again, and so is one about somebody else
    assert ask(http, vid, {"type": "age_over", "value": 3}).json()["results"][0]["result"] is True
    assert ask(http, AMINA_VID, {"type": "age_over", "value": 18}).status_code == 200


def test_rephrasing_a_question_does_not_make_it_a_new_one(http):
    vid = enroll_new(http)
    for spelling in ("Zara Okonkwo", "zara  okonkwo", "ZARA OKONKWO"):
        assert ask(http, vid, {"type": "name_matches", "value": spelling}).status_code == 200
    audit = http.get("/admin/verification-audit", params={"individualId": vid}, headers=ADMIN).json()
    assert audit["usage"] == [{"caller": "admin", "distinctQuestions": 1}]


def test_every_question_is_recorded_for_the_administrator(http):
    vid, born = enroll_minor(http)
    first = ask(http, vid, {"type": "exists"}, {"type": "name_matches", "value": "Minor Person"})
    second = ask(http, vid, {"type": "birthdate_equals", "value": born})
    assert first.status_code == second.status_code == 200
    for age in range(QUOTA):
        ask(http, vid, {"type": "age_under", "value": age})  # the last one is refused: over the quota
    audit = http.get("/admin/verification-audit", params={"individualId": vid}, headers=ADMIN)
    assert audit.status_code == 200, audit.text
    body = audit.json()
    assert body["quota"] == {"distinctQuestions": QUOTA, "windowHours": 24}
    assert body["usage"] == [{"caller": "admin", "distinctQuestions": QUOTA}]
    questions = body["questions"]  # newest first
    assert len(questions) == 3 + QUOTA
    assert questions[0]["refused"] is True and questions[0]["predicate"] == "age_under"
    assert [q["predicate"] for q in questions[-3:]] == ["birthdate_equals", "name_matches", "exists"]
    assert {q["caller"] for q in questions} == {"admin"} and all(q["requestId"] and q["askedAt"] for q in questions)
    assert born not in audit.text and "Minor Person" not in audit.text  # who asked what about whom, not the values
    assert "result" not in audit.text


def test_the_audit_is_for_the_administrator_only(http):
    vid, _ = enroll_minor(http)
    assert http.get("/admin/verification-audit", params={"individualId": vid}).status_code == 401
    wrong = http.get(
        "/admin/verification-audit", params={"individualId": vid}, headers={"Authorization": "Bearer x" + ADMIN_TOKEN}
    )
    assert wrong.status_code == 401
    assert http.get("/admin/verification-audit", headers=ADMIN).status_code == 400
    unknown = http.get("/admin/verification-audit", params={"individualId": "2222222222"}, headers=ADMIN)
    assert unknown.status_code == 404
