"""Every table of the IM, imported together for Alembic."""

from .audit.models import AuditEntry  # noqa: F401
from .base import Base  # noqa: F401
from .messagelog.models import ChainHead, LogRecord  # noqa: F401
from .pubsub.models import Delivery, Event, EventType, Subscription  # noqa: F401
from .registry.models import AccessRight, Application, FederatedInstance, Instance, Member, Service  # noqa: F401
