from crm_platform.migrations import run_env

from services.notify.db.models import Base

run_env(Base.metadata)
