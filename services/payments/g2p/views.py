"""G2P routes: the 1.0 API (`/prepayment-validation`, `/bulk-payment`) and v3 (`/batchtransactions`,
`/api/v1/batch`, `/api/v1/batch/detail`)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fastapi import Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.app import DBSession
from services.common.assertion import VerifiedCall
from services.common.errors import summarize

from .. import envelopes
from ..authorization import check_source
from ..dependencies import DB, BackgroundWorker, IMCaller, Settings
from ..envelopes import SUCCESS, answers, fail_v1, fail_v3, shaped_router, v1_body
from ..outbox.service import enqueue
from . import prevalidation, service
from .models import Batch
from .schemas import (
    BatchAccepted,
    BatchSummary,
    BulkPaymentAck,
    TransactionDetail,
    V1BulkPaymentRequest,
    V1ValidationResultRequest,
    V3Transaction,
    ValidationResult,
)
from .service import STATUS_FILTER, NewInstruction

# Each API generation answers errors in its own shape (envelopes.py); /prepayment-validation documents only 200.
_TAGS = ["G2P bulk disbursement"]
validation_router = shaped_router(envelopes.v1_validation_answer, _TAGS)
v1_router = shaped_router(envelopes.v1_error, _TAGS)
v3_router = shaped_router(envelopes.v3_error, _TAGS)


def _client(caller: VerifiedCall | None) -> str | None:
    return caller.client if caller else None


@validation_router.post(
    "/prepayment-validation",
    summary="Validate a batch before paying it (API 1.0)",
    description=(
        "Prepaymentvalidation.yaml documents a single answer, 200: invalid input is answered 200 with "
        '`ResponseCode` "01" and a description (403 only when the IM-verified caller may not use the source or '
        "programme)."
    ),
    **answers(ValidationResult),
)
def prepayment_validation(
    body: V1BulkPaymentRequest,
    caller: IMCaller,
    settings: Settings,
    session: Session = DBSession,
    x_callback_url: str | None = Header(default=None, alias="X-Callback-URL", max_length=500),
    program_id: str | None = Header(default=None, alias="X-Program-Id", max_length=20),
) -> dict:
    check_source(settings, caller, body.SourceBBID)
    result = prevalidation.validate(session, body, program_id, _client(caller))  # BatchRejected: 200, code "01"
    if x_callback_url:
        enqueue(session, settings, "g2p.prepayment_validation", x_callback_url, result)
    return result


@v1_router.post(
    "/prepayment-validation-response",
    summary="Fetch the outcome of a pre-payment validation (API 1.0)",
    description="In no spec file: the stored outcome by `BatchID` (or `Source_BatchID`), optionally `SourceBBID`.",
    **answers(ValidationResult),
)
def prepayment_validation_response(
    body: V1ValidationResultRequest,
    caller: IMCaller,
    settings: Settings,
    session: Session = DBSession,
) -> dict:
    check_source(settings, caller, body.SourceBBID)
    found = prevalidation.find(session, body.SourceBBID, body.BatchID, None)
    if found is None:
        raise fail_v1(404, "no pre-payment validation for this BatchID", body.RequestID)
    return json.loads(found.result)


@v1_router.post(
    "/bulk-payment", summary="Hand over a batch of credit instructions (API 1.0)", **answers(BulkPaymentAck)
)
def bulk_payment_v1(
    body: V1BulkPaymentRequest,
    caller: IMCaller,
    settings: Settings,
    worker: BackgroundWorker,
    session: Session = DBSession,
    x_callback_url: str | None = Header(default=None, alias="X-Callback-URL", max_length=500),
    program_id: str | None = Header(default=None, alias="X-Program-Id", max_length=20),
) -> dict:
    instructions = [
        NewInstruction(
            i.InstructionID, i.Amount, i.Currency, i.PayeeFunctionalID, "FUNCTIONAL_ID", narration=i.Narration
        )
        for i in body.CreditInstructions
    ]
    ack = v1_body(SUCCESS, "Batch accepted for processing", body.RequestID) | {
        "BatchID": body.BatchID,
        "PaymentsBatchID": "{batchId}",
    }
    check_source(settings, caller, body.SourceBBID)
    _, answer = service.submit(
        session,
        api="v1",
        request_id=body.RequestID,
        source=body.SourceBBID,
        instructions=instructions,
        ack=ack,
        client_batch_id=body.BatchID,
        program_id=program_id,
        callback_url=x_callback_url,
        caller=_client(caller),
        request_hash=body.fingerprint(program_id),
    )
    session.commit()
    if worker is not None:
        worker.wake()
    return answer


V3_TRANSACTION = TypeAdapter(V3Transaction)


def _inline_schema(model: type) -> dict:
    """The model's JSON schema with its `$defs` inlined (for a hand-declared OpenAPI request body)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)


@v3_router.post(
    "/batchtransactions",
    status_code=202,
    summary="Hand over a batch of credit instructions (v3)",
    **answers(BatchAccepted, 202),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "array", "items": _inline_schema(V3Transaction)}}},
        }
    },
)
async def batch_transactions(
    request: Request,
    caller: IMCaller,
    settings: Settings,
    db: DB,
    worker: BackgroundWorker,
    type: str = Query(pattern="^raw$"),  # the spec's parameter name
    correlation_id: str = Header(alias="X-CorrelationID", min_length=1, max_length=20),
    tenant: str = Header(alias="Platform-TenantId", min_length=1, max_length=20),
    callback_url: str = Header(alias="X-Callback-URL", min_length=1, max_length=500),
    program_id: str | None = Header(default=None, alias="X-Program-Id", max_length=20),
    institution: str | None = Header(default=None, alias="X-Registering-Institution-Id", max_length=20),
) -> JSONResponse:
    check_source(settings, caller, institution)
    # Validated one transaction at a time, each dropped once converted: peak memory stays ~1/2 of
    # validating the whole 100 000-item array into models at once.
    raw_body = await request.body()
    request_hash = hashlib.sha256(raw_body + b"\n" + (program_id or "").encode()).hexdigest()
    try:
        raw = json.loads(raw_body)
    except ValueError as exc:
        raise fail_v3(400, "the body is not valid JSON", correlation_id) from exc
    if not isinstance(raw, list) or not raw:
        raise fail_v3(400, "the body must be a non-empty JSON array of transactions", correlation_id)
    instructions = []
    for index, item in enumerate(raw):
        try:
            instructions.append(service.v3_instruction(V3_TRANSACTION.validate_python(item)))
        except ValidationError as exc:
            details = [
                {"field": ".".join(str(p) for p in (index, *e["loc"])), "message": e["msg"]} for e in exc.errors()
            ]
            raise fail_v3(400, summarize(details[:5]), correlation_id) from exc
        raw[index] = None
    del raw, raw_body

    def store() -> dict:
        with db.session() as session:
            return service.submit(
                session,
                api="v3",
                request_id=correlation_id,
                source=institution or "",
                instructions=instructions,
                ack={"batchId": "{batchId}"},
                program_id=program_id,
                tenant=tenant,
                callback_url=callback_url,
                caller=_client(caller),
                request_hash=request_hash,
                request_id_name="X-CorrelationID",
            )[1]

    answer = await run_in_threadpool(store)
    if worker is not None:
        worker.wake()
    return JSONResponse(answer, status_code=202)


def _batch(session: Session, batch_id: str | None, correlation_id: str | None) -> Batch:
    stmt = select(Batch)
    if batch_id:
        stmt = stmt.where(Batch.id == batch_id)
    elif correlation_id:
        stmt = stmt.where(Batch.request_id == correlation_id)
    else:
        raise fail_v3(400, "batchId is required", correlation_id or "")
    batch = session.scalars(stmt.order_by(Batch.created_at.desc()).limit(1)).first()
    if batch is None:
        raise fail_v3(404, "no such batch", correlation_id or "")
    return batch


@v3_router.get(
    "/api/v1/batch",
    summary="Batch summary (v3, same body as the BulkPaymentStatusUpdate callback)",
    **answers(BatchSummary),
)
def batch_summary(
    session: Session = DBSession,
    batch_id: str | None = Query(default=None, alias="batchId", max_length=50),
    correlation_id: str | None = Query(default=None, alias="X-CorrelationID", max_length=20),
) -> dict:
    return service.summary(session, _batch(session, batch_id, correlation_id))


@v3_router.get(
    "/api/v1/batch/detail",
    summary="Batch details, paged per transaction (v3)",
    **answers(list[TransactionDetail]),
)
def batch_detail(
    session: Session = DBSession,
    batch_id: str = Query(alias="batchId", min_length=1, max_length=50),
    direction: str | None = Query(default=None, max_length=12),
    page_no: int = Query(default=0, alias="pageNo", ge=0),
    page_size: int = Query(default=20, alias="pageSize", ge=1, le=1000),
    correlation_id: str | None = Query(default=None, alias="X-CorrelationID", max_length=20),
    status: str | None = Query(default=None, max_length=20),
    tenant: str | None = Header(default=None, alias="Platform-TenantId", max_length=20),
) -> list[dict]:
    batch = _batch(session, batch_id, None)
    wanted = None
    if status:
        wanted = STATUS_FILTER.get(status.upper())
        if wanted is None:
            raise fail_v3(400, "status must be one of COMPLETED, FAILED, IN_PROGRESS", correlation_id or "")
    if direction and direction.upper() != "OUTGOING":
        return []
    return service.details(session, batch, page_no, page_size, wanted)
