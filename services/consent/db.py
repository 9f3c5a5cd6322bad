"""The Consent service's declarative base; every capability's models register on it."""

from __future__ import annotations

import uuid

from services.common.database import declarative_base

Base = declarative_base()


def new_id() -> str:
    return uuid.uuid4().hex
