from services.common.migrations import run
from usecases.cash_transfer.models import Base

run(Base.metadata)
