from services.common.migrations import run
from usecases.construction_permit.models import Base

run(Base.metadata)
