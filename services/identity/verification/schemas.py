from __future__ import annotations

from typing import Any

from services.identity.schemas import Schema


class PredicateResult(Schema):
    type: str
    result: bool


class Verification(Schema):
    requestId: Any  # echoes the request's
    verified: bool
    results: list[PredicateResult]
    responseTime: str


class QuestionUsage(Schema):
    caller: str
    distinctQuestions: int


class Question(Schema):
    askedAt: str
    caller: str
    requestId: str
    predicate: str
    refused: bool


class VerificationAudit(Schema):
    individualId: str
    quota: dict[str, int]
    usage: list[QuestionUsage]
    questions: list[Question]
