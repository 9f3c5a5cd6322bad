from services.common.database import declarative_base

Base = declarative_base()
