from services.common.migrations import run
from services.payments.models import Base

run(Base.metadata)
