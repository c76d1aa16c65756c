"""End-to-end fixtures: the whole platform, started once per test session, with what
is outside it (an SMTP server, webhook subscribers, SMS and WeChat providers) running
on local ports."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.e2e.sales_support import org
from tests.e2e.service_desk_support import desk, desk_events
from tests.support.platform import Platform, running_platform
from tests.support.providers import (
    ALIYUN_KEY_ID,
    ALIYUN_SECRET,
    WECHAT_APP_ID,
    WECHAT_SECRET,
    FakeAliyunSms,
    FakeWeChat,
)
from tests.support.receivers import HttpReceiver, Request, SmtpSink

__all__ = ["Platform", "desk", "desk_events", "org"]

SMS_RECEIPT_TOKEN = "receipt-token-e2e"
WECHAT_TOKEN = "wechat-server-token"


@dataclass
class Outside:
    smtp: SmtpSink
    sms: FakeAliyunSms
    wechat: FakeWeChat
    hooks: HttpReceiver
    # per path: HTTP statuses the subscriber answers next (then 200)
    scripts: dict[str, deque[int]] = field(default_factory=dict)

    def hook_url(self, path: str) -> str:
        return f"{self.hooks.url}{path}"

    def env(self) -> dict[str, str]:
        return {
            "CRM_SMTP_HOST": "127.0.0.1", "CRM_SMTP_PORT": str(self.smtp.port),
            "CRM_SMTP_TLS": "none", "CRM_MAIL_FROM": "CRM 通知 <noreply@crm.test>",
            "CRM_ALIYUN_SMS_URL": self.sms.http.url,
            "CRM_ALIYUN_ACCESS_KEY_ID": ALIYUN_KEY_ID,
            "CRM_ALIYUN_ACCESS_KEY_SECRET": ALIYUN_SECRET,
            "CRM_ALIYUN_SMS_SIGN_NAME": "云帆科技", "CRM_ALIYUN_SMS_TEMPLATE_CODE": "SMS_1001",
            "CRM_SMS_RECEIPT_TOKEN": SMS_RECEIPT_TOKEN,
            "CRM_WECHAT_URL": self.wechat.http.url, "CRM_WECHAT_APP_ID": WECHAT_APP_ID,
            "CRM_WECHAT_APP_SECRET": WECHAT_SECRET, "CRM_WECHAT_TEMPLATE_ID": "tmpl-1",
            "CRM_WECHAT_TOKEN": WECHAT_TOKEN,
            "CRM_WEBHOOK_ALLOWED_HOSTS": f"127.0.0.1:{self.hooks.port}",
            "CRM_WEBHOOK_RETRY_SCHEDULE": "1,1,2,3600",
            "CRM_NOTIFY_RETRY_BASE_SECONDS": "1",
            "CRM_NOTIFY_POLL_SECONDS": "0.2",
        }


@pytest.fixture(scope="session")
def outside() -> Iterator[Outside]:
    scripts: dict[str, deque[int]] = {}

    def answer(request: Request) -> tuple[int, dict[str, str], bytes]:
        pending = scripts.get(request.path)
        status = pending.popleft() if pending else 200
        return status, {"Content-Type": "text/plain"}, b"ok" if status < 300 else b"no"

    parts = Outside(SmtpSink().start(), FakeAliyunSms(), FakeWeChat(),
                    HttpReceiver(answer), scripts)
    parts.sms.http.start()
    parts.wechat.http.start()
    parts.hooks.start()
    try:
        yield parts
    finally:
        parts.smtp.stop()
        for receiver in (parts.sms.http, parts.wechat.http, parts.hooks):
            receiver.stop()


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory, outside: Outside) -> Iterator[Platform]:
    with running_platform(tmp_path_factory.mktemp("platform"), **outside.env()) as running:
        yield running


@pytest.fixture(scope="session")
def openapi(platform: Platform) -> dict[str, Any]:
    """The gateway's OpenAPI document, which the generated tests walk."""
    return dict(httpx.get(f"{platform.base_url}/openapi.json", timeout=30).json())
