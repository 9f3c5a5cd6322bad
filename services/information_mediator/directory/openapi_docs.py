"""Providers' OpenAPI documents, fetched from each service's `specUrl` and cached in the registry."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import yaml

from ..registry.models import Service

REFRESH_AFTER = timedelta(minutes=5)
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


async def document(http: httpx.AsyncClient, service: Service) -> dict | None:
    """The service's OpenAPI document (refreshed every few minutes), or None when it cannot be had."""
    fetched = service.openapi_fetched_at
    if fetched is not None and fetched.tzinfo is None:
        fetched = fetched.replace(tzinfo=UTC)
    fresh = fetched is not None and datetime.now(UTC) - fetched < REFRESH_AFTER
    if service.openapi_json and fresh:
        return json.loads(service.openapi_json)
    try:
        response = await http.get(service.spec_url, timeout=5)
        response.raise_for_status()
        doc = yaml.safe_load(response.text) if "yaml" in response.headers.get("content-type", "") else response.json()
        if not isinstance(doc, dict):
            raise ValueError("not an OpenAPI document")
    except (httpx.HTTPError, ValueError, yaml.YAMLError):
        return json.loads(service.openapi_json) if service.openapi_json else None
    service.openapi_json = json.dumps(doc)
    service.openapi_fetched_at = datetime.now(UTC)
    return doc


def endpoints(doc: dict | None) -> list[dict]:
    if not doc:
        return []
    out = []
    for path, item in (doc.get("paths") or {}).items():
        if isinstance(item, dict):
            out += [{"method": m.upper(), "path": path} for m in item if m in HTTP_METHODS]
    return out


def version(doc: dict | None) -> str | None:
    value = ((doc or {}).get("info") or {}).get("version")
    return str(value) if value is not None else None
