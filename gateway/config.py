"""Gateway settings (environment, laptop defaults). Production refuses default secrets."""

from __future__ import annotations

from functools import lru_cache

from crm_platform.settings import DEV_SECRET, get_settings
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_", extra="ignore")

    access_token_minutes: int = 30
    refresh_token_days: int = 14
    admin_username: str = "admin"
    admin_password: str = "admin"
    rate_limit_per_second: float = Field(50.0, description="sustained requests/s per principal")
    rate_limit_burst: int = 200
    # failed sign-ins allowed in the window before login answers 429 (S3)
    login_failures_per_username: int = 10
    login_failures_per_address: int = 100
    login_failure_window_seconds: float = 300.0
    max_body_bytes: int = 1_048_576
    max_upload_bytes: int = 50 * 1_048_576
    # the documents service's content port, where file bytes are streamed to and from
    docs_content_url: str = "http://127.0.0.1:8115"
    cors_origins: list[str] = Field(default_factory=lambda: ["*"])
    principal_cache_seconds: float = 30.0
    idempotency_hours: int = 24
    seed_demo: bool = True
    portal_invite_days: int = Field(7, description="how long a portal invitation works")
    portal_accept_url: str | None = Field(None, description="the portal's page where an "
                                          "invited contact sets a password (in the e-mail)")


@lru_cache(maxsize=1)
def gateway_settings() -> GatewaySettings:
    return GatewaySettings()


def check_production_secrets() -> None:
    """Refuse to start a production gateway with development secrets."""
    platform = get_settings()
    if not platform.is_production:
        return
    gw = gateway_settings()
    problems = []
    if platform.jwt_secret == DEV_SECRET or len(platform.jwt_secret) < 32:
        problems.append("CRM_JWT_SECRET must be set to a random value of 32+ characters")
    if gw.admin_password == "admin":
        problems.append("CRM_ADMIN_PASSWORD must not be the development default")
    if problems:
        raise SystemExit("refusing to start in production: " + "; ".join(problems))
