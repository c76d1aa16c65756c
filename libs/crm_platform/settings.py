"""Settings from the environment, with laptop defaults.

Each service reads its database from ``<SERVICE>_DATABASE_URL`` (so one shell can run
every service) or ``DATABASE_URL`` (one pod, one service), else a SQLite file under
``var/``. ``AMQP_URI`` defaults to the local RabbitMQ.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]
DEV_SECRET = "dev-only-insecure-secret-change-me"


class PlatformSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    env: str = Field("development", alias="CRM_ENV")
    amqp_uri: str = Field("amqp://guest:guest@127.0.0.1:5672//", alias="AMQP_URI")
    var_dir: Path = Field(REPO_ROOT / "var", alias="CRM_VAR_DIR")
    rpc_timeout: float = Field(10.0, alias="CRM_RPC_TIMEOUT")
    max_workers: int = Field(20, alias="CRM_MAX_WORKERS")
    # PostgreSQL connections a process keeps open (default: one per worker plus the
    # relay's) and how many more it may open for a burst, closing them after use. Lower
    # the first when many processes share one server's max_connections
    db_pool_size: int | None = Field(None, alias="CRM_DB_POOL_SIZE")
    db_max_overflow: int = Field(5, alias="CRM_DB_MAX_OVERFLOW")
    # hot searches run as PostgreSQL prepared statements (``crm_platform.db``); a
    # connection pooler in transaction mode (PgBouncer's) does not keep them: turn off
    db_prepared_statements: bool = Field(True, alias="CRM_DB_PREPARED_STATEMENTS")
    ops_port: int = Field(0, alias="CRM_OPS_PORT")  # 0: no ops HTTP server
    log_level: str = Field("INFO", alias="CRM_LOG_LEVEL")
    log_json: bool = Field(True, alias="CRM_LOG_JSON")
    # outbox relay: sweep interval and how old an unsent row must be before the sweep
    # takes it (the fast path publishes right after commit)
    outbox_sweep_seconds: float = Field(2.0, alias="CRM_OUTBOX_SWEEP_SECONDS")
    outbox_grace_seconds: float = Field(1.0, alias="CRM_OUTBOX_GRACE_SECONDS")
    # consumer retries before a message goes to the dead-letter queue
    event_max_attempts: int = Field(5, alias="CRM_EVENT_MAX_ATTEMPTS")
    event_retry_base_ms: int = Field(500, alias="CRM_EVENT_RETRY_BASE_MS")
    # how long a batch consumer (local copies) waits after an event for more to apply in
    # the same transaction: a copy is that much later, a busy stream far cheaper
    event_batch_linger_ms: float = Field(20.0, alias="CRM_EVENT_BATCH_LINGER_MS")
    jwt_secret: str = Field(DEV_SECRET, alias="CRM_JWT_SECRET")
    # Test-only switches that break a delivery guarantee on purpose, so the chaos harness
    # can show it would catch the breakage (issue 26 R2). Honoured only with CRM_TESTING=1
    # outside production; set any other way, the process refuses to start.
    # NO_OUTBOX: events are not written to the outbox with the state change, only
    # published after the commit (lost if that publish fails or the process dies first).
    # NO_INBOX: consumers record no inbox mark, so a redelivered event is applied again.
    testing: bool = Field(False, alias="CRM_TESTING")
    test_unsafe_no_outbox: bool = Field(False, alias="CRM_TEST_UNSAFE_NO_OUTBOX")
    test_unsafe_no_inbox: bool = Field(False, alias="CRM_TEST_UNSAFE_NO_INBOX")

    @model_validator(mode="after")
    def _unsafe_only_in_tests(self) -> PlatformSettings:
        switches = {"CRM_TEST_UNSAFE_NO_OUTBOX": self.test_unsafe_no_outbox,
                    "CRM_TEST_UNSAFE_NO_INBOX": self.test_unsafe_no_inbox}
        unsafe = [name for name, on in switches.items() if on]
        if unsafe and (not self.testing or self.is_production):
            raise ValueError(f"{', '.join(unsafe)} break delivery guarantees and are for the "
                             "chaos tests only: refused unless CRM_TESTING=1 and CRM_ENV is "
                             "not production")
        return self

    @property
    def is_production(self) -> bool:
        return self.env.lower() in {"production", "prod"}

    def database_url(self, service: str) -> str:
        specific = os.environ.get(f"{service.upper()}_DATABASE_URL")
        if specific:
            return specific
        generic = os.environ.get("DATABASE_URL")
        if generic:
            return generic
        self.var_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.var_dir / f'{service}.db'}"


@lru_cache(maxsize=1)
def get_settings() -> PlatformSettings:
    return PlatformSettings()
