from services.common.migrations import run
from services.identity.models import Base

run(Base.metadata)
