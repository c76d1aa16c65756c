from crm_platform.migrations import run_env

from gateway.db.models import Base

run_env(Base.metadata)
