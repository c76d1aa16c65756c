from crm_platform.migrations import run_env

from services.service_desk.db.models import Base

run_env(Base.metadata)
