"""enrollment.yaml's enrollmentResponse."""

from __future__ import annotations

from services.identity.schemas import ErrorItem, Schema


class Packet(Schema):
    id: str
    packetName: str
    source: str | None = None
    process: str
    refId: str | None = None
    schemaVersion: str
    signature: str
    encryptedHash: str
    providerName: str
    providerVersion: str
    creationDate: str
    status: str
    vid: str | None = None


class EnrollmentResponse(Schema):
    id: str
    version: str
    responsetime: str
    response: list[Packet] | None = None
    errors: list[ErrorItem]
