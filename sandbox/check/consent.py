"""Consent: every operation of consent-openapi.yaml with valid input, in the spec's workflow (a policy and a
data agreement of the kit's own; an individual gives consent, the verifier sees it, the individual withdraws
it and signs the withdrawal, a second individual signs a draft; audit; the right to be forgotten), then with
invalid input. Fixtures read: the policy `1` and the data agreement `1` (sandbox/conformance/consent.yaml).
"""

from __future__ import annotations

import json
import uuid

from joserfc import jws
from joserfc.jwk import ECKey

from .kit import Probe, probe_invalid_input, require_coverage, run_scenarios
from .openapi import load

SPEC = "consent/consent-openapi.yaml"
FIXTURE_POLICY = "1"
FIXTURE_AGREEMENT = "1"
INDIVIDUAL_HEADER = "X-ConsentBB-IndividualId"  # the spec says "supplied as HTTP header" without a name
RECORD = "/service/individual/record/consent-record/"


def policy_body(name: str) -> dict:
    return {
        "policy": {
            "name": name,
            "version": "1.0",
            "url": "https://example.org/policies/conformance-kit",
            "jurisdiction": "Sandbox Republic",
            "industrySector": "Public administration",
            "dataRetentionPeriodDays": 30,
            "geographicRestriction": "Sandbox Republic",
            "storageLocation": "Sandbox Republic",
        }
    }


def agreement_body(policy_id: str, purpose: str) -> dict:
    return {
        "dataAgreement": {
            "version": "1.0.0",
            "controller": {"name": "GovStack conformance kit", "url": "https://example.org/kit"},
            "policy": policy_id,
            "purpose": purpose,
            "lawfulBasis": "consent",
            "dataUse": "data_using_service",
            "dpia": "not needed: test data",
            "active": True,
            "forgettable": True,
            "lifecycle": "complete",
        }
    }


class ConsentRun:
    def __init__(self, probe: Probe):
        self.probe = probe
        self.spec = load(SPEC)
        self.ids: dict[str, str] = {}
        self.key = ECKey.generate_key("P-256", private=True)

    def call(self, method: str, path: str, name: str, **request: object) -> dict:
        return self.probe.call(self.spec, method, path, name=name, **request).json()

    def as_individual(self, individual: str) -> dict:
        return {"headers": {INDIVIDUAL_HEADER: individual}, "params": {"individualId": individual}}

    def sign(self, payload: str) -> dict:
        return {
            "signature": jws.serialize_compact({"alg": "ES256"}, payload.encode(), self.key),
            "verificationSignedBy": json.dumps(self.key.as_dict(private=False)),
        }

    def policies(self) -> None:
        self.call("GET", f"/config/policy/{FIXTURE_POLICY}/", "read the fixture policy")
        self.call("GET", f"/service/policy/{FIXTURE_POLICY}/", "read the fixture policy as a service")
        self.call("GET", "/config/policies/", "list policies")
        created = self.call("POST", "/config/policy/", "create a policy", json=policy_body("Kit policy"))
        policy = self.ids["policyId"] = created["policy"]["id"]
        self.call("PUT", f"/config/policy/{policy}/", "update the policy", json=policy_body("Kit policy, v2"))
        self.call("GET", f"/config/policy/{policy}/revisions/", "list the policy's revisions")

    def agreements(self) -> None:
        self.call("GET", f"/config/data-agreement/{FIXTURE_AGREEMENT}/", "read the fixture data agreement")
        body = agreement_body(self.ids["policyId"], "Conformance kit: a data agreement of its own")
        created = self.call("POST", "/config/data-agreement/", "create a data agreement", json=body)
        agreement = self.ids["dataAgreementId"] = created["dataAgreement"]["id"]
        body["dataAgreement"]["purpose"] += " (updated)"
        self.call("PUT", f"/config/data-agreement/{agreement}/", "update the data agreement", json=body)
        self.call("GET", f"/config/data-agreement/{agreement}/", "read the data agreement")
        self.call("GET", "/config/data-agreements/", "list data agreements")
        self.call("GET", f"/service/data-agreement/{agreement}/", "read the data agreement as a service")

    def individuals(self) -> None:
        tag = uuid.uuid4().hex[:10]
        one = {"individual": {"externalId": f"kit-{tag}-1", "externalIdType": "conformance-kit"}}
        first = self.call("POST", "/config/individual/", "create an individual (config)", json=one)
        self.ids["individualId"] = first["individual"]["id"]
        self.call("GET", f"/config/individual/{self.ids['individualId']}/", "read the individual (config)")
        self.call("GET", "/config/individuals/", "list individuals (config)")
        two = {"individual": {"externalId": f"kit-{tag}-2", "externalIdType": "conformance-kit"}}
        second = self.call("POST", "/service/individual/", "create an individual (service)", json=two)
        other = self.ids["otherIndividualId"] = second["individual"]["id"]
        self.call("GET", f"/service/individual/{other}/", "read the individual (service)")
        two["individual"]["externalIdType"] = "conformance-kit-updated"
        self.call("PUT", f"/service/individual/{other}/", "update the individual (service)", json=two)
        self.call("GET", "/service/individuals/", "list individuals (service)")

    def webhooks(self) -> None:
        hook = {
            "webhook": {
                "payloadUrl": f"{self.probe.config.callback_url}/consent-webhook",  # disabled: never called
                "contentType": "application/json",
                "disabled": True,
                "secretKey": "kit-" + uuid.uuid4().hex,
            }
        }
        created = self.call("POST", "/config/webhook/", "create a webhook", json=hook)
        webhook = created["webhook"]["id"]
        self.call("GET", f"/config/webhook/{webhook}/", "read the webhook")
        hook["webhook"]["payloadUrl"] += "-2"
        self.call("PUT", f"/config/webhook/{webhook}/", "update the webhook", json=hook)
        self.call("GET", "/config/webhooks/", "list webhooks")
        self.call("DELETE", f"/config/webhook/{webhook}/", "delete the webhook")

    def give_verify_withdraw(self) -> None:
        """The spec's workflow: consent given, verified, withdrawn, verified again; the withdrawal signed."""
        agreement, individual = self.ids["dataAgreementId"], self.ids["otherIndividualId"]
        given = self.call(
            "POST",
            f"/service/individual/record/data-agreement/{agreement}/",
            "give consent",
            **self.as_individual(individual),
        )
        record = self.ids["consentRecordId"] = given["consentRecord"]["id"]
        self.expect_consent(agreement, individual, record, True, "verify: consent given")
        self.call(
            "GET",
            f"/service/individual/record/data-agreement/{agreement}/",
            "the individual reads their record",
            **self.as_individual(individual),
        )
        self.call(
            "PUT",
            f"{RECORD}{record}/",
            "withdraw consent",
            json={"consentRecord": {"optIn": False}},
            **self.as_individual(individual),
        )
        self.expect_consent(agreement, individual, record, False, "verify: consent withdrawn")
        issued = self.call(
            "POST",
            f"{RECORD}{record}/signature/",
            "ask for the withdrawal's signature payload",
            json={"signature": {"verificationMethod": "JWS"}},
            **self.as_individual(individual),
        )["signature"]
        signed = {"id": issued["id"], **self.sign(issued["verificationPayload"])}
        self.call(
            "PUT",
            f"{RECORD}{record}/signature/",
            "sign the withdrawal",
            json={"signature": signed},
            **self.as_individual(individual),
        )
        self.call("GET", RECORD, "the individual lists their records", **self.as_individual(individual))
        self.call(
            "GET",
            f"/service/individual/record/data-agreement/{agreement}/all/",
            "the individual lists their records for the agreement",
            **self.as_individual(individual),
        )
        self.call("GET", "/service/verification/data-agreements/", "list the agreements one may verify")

    def expect_consent(self, agreement: str, individual: str, record: str, given: bool, name: str) -> None:
        answer = self.call(
            "GET",
            "/service/verification/consent-records/",
            name,
            params={"dataAgreementId": agreement, "individualId": individual},
        )
        opted = [r.get("optIn") for r in answer.get("consentRecords") or [] if r.get("id") == record]
        self.probe.step(
            "scenario: give, verify, withdraw",
            f"{name}: the record says optIn {str(given).lower()}",
            opted == [given],
            f"the verification listed {opted or 'no such record'} for record {record}",
        )
        single = self.call("GET", f"/service/verification/consent-record/{record}/", f"{name} (by record id)")
        self.probe.step(
            "scenario: give, verify, withdraw",
            f"{name}: GET the record by id says optIn {str(given).lower()}",
            (single.get("consentRecord") or {}).get("optIn") is given,
            f"the record says {single.get('consentRecord')}",
        )

    def signed_draft(self) -> None:
        individual, agreement = self.ids["individualId"], self.ids["dataAgreementId"]
        draft = self.call(
            "POST",
            f"{RECORD}draft/",
            "draft a consent record",
            params={"individualId": individual, "dataAgreementId": agreement},
            headers={INDIVIDUAL_HEADER: individual},
        )
        signature = {**draft["signature"], **self.sign(draft["signature"]["verificationPayload"])}
        stored = self.call(
            "POST",
            RECORD,
            "submit the signed draft",
            json={"consentRecord": draft["consentRecord"], "signature": signature},
            **self.as_individual(individual),
        )
        self.ids["signedRecordId"] = stored["consentRecord"]["id"]

    def audit(self) -> None:
        self.call("GET", "/audit/consent-records/", "audit: list consent records")
        self.call("GET", f"/audit/consent-record/{self.ids['consentRecordId']}/", "audit: one consent record")
        self.call("GET", "/audit/data-agreements/", "audit: list data agreements")
        self.call("GET", f"/audit/data-agreement/{self.ids['dataAgreementId']}/", "audit: one data agreement")

    def forget_and_delete(self) -> None:
        self.call(
            "DELETE",
            "/service/individual/record/",
            "the individual's right to be forgotten",
            **self.as_individual(self.ids["otherIndividualId"]),
        )
        self.call("DELETE", f"/config/data-agreement/{self.ids['dataAgreementId']}/", "delete the data agreement")
        self.call("DELETE", f"/config/policy/{self.ids['policyId']}/", "delete the policy")


def run(probe: Probe) -> None:
    consent = ConsentRun(probe)
    run_scenarios(
        probe,
        [
            consent.policies,
            consent.agreements,
            consent.individuals,
            consent.webhooks,
            consent.give_verify_withdraw,
            consent.signed_draft,
            consent.audit,
            consent.forget_and_delete,
        ],
    )
    known = {"policyId": FIXTURE_POLICY, "dataAgreementId": FIXTURE_AGREEMENT}
    probe_invalid_input(probe, consent.spec, known=known)
    require_coverage(probe, consent.spec)
