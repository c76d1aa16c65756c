"""Settings of the notification service (environment, ``CRM_`` prefix).

None is required: without ``CRM_SMTP_HOST`` mail stays in the delivery log as failed
with the reason, and the same holds for SMS and WeChat without their keys.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class NotifySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    # -- email over SMTP --------------------------------------------------------------------
    smtp_host: str | None = Field(None, alias="CRM_SMTP_HOST")
    smtp_port: int = Field(25, alias="CRM_SMTP_PORT")
    smtp_username: str | None = Field(None, alias="CRM_SMTP_USERNAME")
    smtp_password: str | None = Field(None, alias="CRM_SMTP_PASSWORD")
    # none: plain (a local relay); starttls: upgrade after connecting; tls: TLS from the
    # first byte (port 465)
    smtp_tls: str = Field("starttls", alias="CRM_SMTP_TLS", pattern="^(none|starttls|tls)$")
    smtp_timeout: float = Field(15.0, alias="CRM_SMTP_TIMEOUT")
    mail_from: str = Field("CRM <noreply@localhost>", alias="CRM_MAIL_FROM")
    # where links in messages (one-click unsubscribe) point: the gateway's public address
    public_url: str = Field("http://127.0.0.1:8000", alias="CRM_PUBLIC_URL")

    # -- SMS: Alibaba Cloud Short Message Service (Dysmsapi SendSms) -------------------------
    aliyun_sms_url: str = Field("https://dysmsapi.aliyuncs.com", alias="CRM_ALIYUN_SMS_URL")
    aliyun_access_key_id: str | None = Field(None, alias="CRM_ALIYUN_ACCESS_KEY_ID")
    aliyun_access_key_secret: str | None = Field(None, alias="CRM_ALIYUN_ACCESS_KEY_SECRET")
    aliyun_sms_sign_name: str | None = Field(None, alias="CRM_ALIYUN_SMS_SIGN_NAME")
    aliyun_sms_template_code: str | None = Field(None, alias="CRM_ALIYUN_SMS_TEMPLATE_CODE")
    # the token the SMS receipt push URL carries (?token=…)
    sms_receipt_token: str | None = Field(None, alias="CRM_SMS_RECEIPT_TOKEN")

    # -- WeChat Official Account template messages ----------------------------------------------
    wechat_url: str = Field("https://api.weixin.qq.com", alias="CRM_WECHAT_URL")
    wechat_app_id: str | None = Field(None, alias="CRM_WECHAT_APP_ID")
    wechat_app_secret: str | None = Field(None, alias="CRM_WECHAT_APP_SECRET")
    wechat_template_id: str | None = Field(None, alias="CRM_WECHAT_TEMPLATE_ID")
    # the token configured for the account's server messages (receipts are signed with it)
    wechat_token: str | None = Field(None, alias="CRM_WECHAT_TOKEN")

    provider_timeout: float = Field(10.0, alias="CRM_PROVIDER_TIMEOUT")

    # -- sending -------------------------------------------------------------------------------
    senders: int = Field(4, alias="CRM_NOTIFY_SENDERS", ge=1, le=64)
    poll_seconds: float = Field(1.0, alias="CRM_NOTIFY_POLL_SECONDS", gt=0)
    retry_base_seconds: float = Field(30.0, alias="CRM_NOTIFY_RETRY_BASE_SECONDS", gt=0)
    max_attempts: int = Field(6, alias="CRM_NOTIFY_MAX_ATTEMPTS", ge=1)
    scheduler_seconds: float = Field(30.0, alias="CRM_NOTIFY_SCHEDULER_SECONDS", gt=0)

    # -- outbound webhooks ---------------------------------------------------------------------
    webhook_allowed_hosts: str = Field("", alias="CRM_WEBHOOK_ALLOWED_HOSTS")
    webhook_senders: int = Field(4, alias="CRM_WEBHOOK_SENDERS", ge=1, le=64)
    # seconds to wait after each failed attempt (Standard Webhooks' usual schedule)
    webhook_retry_schedule: str = Field("5,300,1800,7200,18000,36000,36000",
                                        alias="CRM_WEBHOOK_RETRY_SCHEDULE")
    webhook_disable_after_hours: float = Field(120.0, alias="CRM_WEBHOOK_DISABLE_AFTER_HOURS")
    webhook_connect_timeout: float = Field(5.0, alias="CRM_WEBHOOK_CONNECT_TIMEOUT")
    webhook_read_timeout: float = Field(15.0, alias="CRM_WEBHOOK_READ_TIMEOUT")
    webhook_max_response_bytes: int = Field(65536, alias="CRM_WEBHOOK_MAX_RESPONSE_BYTES")

    @property
    def allowed_hosts(self) -> list[str]:
        return [h.strip().lower() for h in self.webhook_allowed_hosts.split(",") if h.strip()]

    @property
    def retry_schedule(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.webhook_retry_schedule.split(",") if s.strip())


@lru_cache(maxsize=1)
def notify_settings() -> NotifySettings:
    return NotifySettings()
