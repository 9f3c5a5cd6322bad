from services.common.migrations import run
from services.information_mediator.models import Base

run(Base.metadata)
