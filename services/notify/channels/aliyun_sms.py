"""SMS through Alibaba Cloud's Short Message Service (Dysmsapi ``SendSms``, API version
2017-05-25) with its documented RPC request signature (signature version 1.0):

1. every parameter but ``Signature``, sorted by name, each name and value
   percent-encoded (RFC 3986: ``A-Z a-z 0-9 - _ . ~`` kept, space as ``%20``), joined
   as ``name=value`` with ``&``;
2. ``StringToSign = "GET&%2F&" + percentEncode(that string)``;
3. ``Signature = base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign))``.

The message text goes in ``TemplateParam`` as ``{"content": …}`` of the template
registered with the provider (a template's ``sms_template_code``, else
``CRM_ALIYUN_SMS_TEMPLATE_CODE``); ``OutId`` is the delivery's id, which the provider's
delivery receipts carry back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from urllib.parse import quote

import httpx

from services.notify.channels import OutgoingMessage, SendFailed, Sent
from services.notify.domain.delivery import Failure, http_failure, network_failure
from services.notify.settings import NotifySettings

API_VERSION = "2017-05-25"
# answers that mean "not now" rather than "never"
RETRIABLE_CODES = frozenset({"isv.BUSINESS_LIMIT_CONTROL", "Throttling.User",
                             "ServiceUnavailable", "InternalError"})


def percent_encode(value: str) -> str:
    return quote(value, safe="~")


def string_to_sign(params: dict[str, str], method: str = "GET") -> str:
    canonical = "&".join(f"{percent_encode(k)}={percent_encode(v)}"
                         for k, v in sorted(params.items()))
    return f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"


def signature(secret: str, params: dict[str, str], method: str = "GET") -> str:
    digest = hmac.new(f"{secret}&".encode(), string_to_sign(params, method).encode(),
                      hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class AliyunSms:
    name = "aliyun_sms"

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings
        self.client = httpx.Client(timeout=settings.provider_timeout, follow_redirects=False)

    def params(self, message: OutgoingMessage, now: datetime) -> dict[str, str]:
        s = self.settings
        return {
            "AccessKeyId": s.aliyun_access_key_id or "",
            "Action": "SendSms",
            "Format": "JSON",
            "OutId": message.delivery_id,
            "PhoneNumbers": message.address,
            "RegionId": "cn-hangzhou",
            "SignName": s.aliyun_sms_sign_name or "",
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": str(uuid.uuid4()),
            "SignatureVersion": "1.0",
            "TemplateCode": message.provider_template or s.aliyun_sms_template_code or "",
            "TemplateParam": json.dumps({"content": message.text}, ensure_ascii=False),
            "Timestamp": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": API_VERSION,
        }

    def send(self, message: OutgoingMessage) -> Sent:
        params = self.params(message, datetime.now(UTC))
        params["Signature"] = signature(self.settings.aliyun_access_key_secret or "", params)
        try:
            response = self.client.get(self.settings.aliyun_sms_url.rstrip("/") + "/",
                                       params=params)
        except httpx.HTTPError as exc:
            raise SendFailed(network_failure(f"{type(exc).__name__}: {exc}"),
                             self.name) from exc
        text = response.text[:2000]
        if response.status_code != 200:
            raise SendFailed(http_failure(response.status_code, text), self.name)
        try:
            answer = response.json()
        except ValueError as exc:
            raise SendFailed(Failure(f"not JSON: {text[:200]}", retriable=True),
                             self.name) from exc
        code = str(answer.get("Code"))
        if code != "OK":
            raise SendFailed(Failure(f"{code}: {answer.get('Message')}",
                                     retriable=code in RETRIABLE_CODES), self.name)
        return Sent(self.name, str(answer.get("BizId") or "") or None, text)

    def close(self) -> None:
        self.client.close()
