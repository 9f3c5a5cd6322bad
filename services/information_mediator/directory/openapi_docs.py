"""Providers' OpenAPI documents, fetched from each service's `specUrl` and cached (in the registry for a service
of this instance, in memory for one of a federated instance), or declared inline (federated instances)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import httpx
import yaml

from services.common.clock import as_utc, utcnow

REFRESH_AFTER = timedelta(minutes=5)
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class SpecSource(Protocol):
    """Where a service's description comes from and its cached copy (a registry `Service` is one)."""

    spec_url: str | None
    openapi_json: str | None
    openapi_fetched_at: datetime | None


@dataclass
class DeclaredSpec:
    """The description of a federated service: inline (no `spec_url`), or fetched and cached here."""

    spec_url: str | None
    openapi_json: str | None = None
    openapi_fetched_at: datetime | None = None


async def document(http: httpx.AsyncClient, service: SpecSource) -> dict | None:
    """The service's OpenAPI document (refreshed every few minutes), or None when it cannot be had."""
    if not service.spec_url:
        return json.loads(service.openapi_json) if service.openapi_json else None
    fetched = service.openapi_fetched_at
    fresh = fetched is not None and utcnow() - as_utc(fetched) < REFRESH_AFTER
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
    service.openapi_fetched_at = utcnow()
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
