"""The Identity service's declarative base."""

from __future__ import annotations

from services.common.database import declarative_base

Base = declarative_base()
