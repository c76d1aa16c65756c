from crm_platform.migrations import run_env

from services.docs.db.models import Base

run_env(Base.metadata)
