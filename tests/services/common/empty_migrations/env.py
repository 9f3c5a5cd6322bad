from sqlalchemy import MetaData

from services.common.migrations import run

run(MetaData())
