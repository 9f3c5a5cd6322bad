from services.common.migrations import run
from services.consent.models import Base

run(Base.metadata)
