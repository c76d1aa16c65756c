"""Fakes of the outside services the notification service calls, on local ports.

Each checks requests the way the real provider documents it — written here from the
providers' documentation, not from the platform's code — and refuses what it would
refuse:

- Alibaba Cloud SMS (Dysmsapi ``SendSms``): the RPC signature, version 1.0: sorted
  parameters percent-encoded (``+`` → ``%20``, ``*`` → ``%2A``, ``%7E`` → ``~``),
  ``GET&%2F&`` + the encoded query, HMAC-SHA1 with ``AccessKeySecret + "&"``, base64;
  a reused ``SignatureNonce`` and a ``Timestamp`` more than 15 minutes off are refused.
- WeChat Official Account: ``/cgi-bin/token`` with the app's id and secret issues a
  token; ``/cgi-bin/message/template/send`` accepts only the current token
  (errcode 40001 otherwise).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus

from tests.support.receivers import HttpReceiver, Request

ALIYUN_KEY_ID = "LTAI5tTestKeyId"
ALIYUN_SECRET = "testSecret/With+Chars="
WECHAT_APP_ID = "wx0123456789abcdef"
WECHAT_SECRET = "wechat-app-secret"


def _json(status: int, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


def aliyun_signature(params: dict[str, str], secret: str) -> str:
    def encode(value: str) -> str:
        return quote_plus(value).replace("+", "%20").replace("*", "%2A").replace("%7E", "~")

    query = "&".join(f"{encode(k)}={encode(v)}" for k, v in sorted(params.items())
                     if k != "Signature")
    to_sign = "GET&" + encode("/") + "&" + encode(query)
    digest = hmac.new((secret + "&").encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class FakeAliyunSms:
    def __init__(self) -> None:
        self.sent: list[dict[str, str]] = []
        self.refused: list[str] = []
        self.failures: deque[int] = deque()  # HTTP statuses to answer next, then OK
        self._nonces: set[str] = set()
        self._ids = itertools.count(1000)
        self._lock = threading.Lock()
        self.http = HttpReceiver(self.respond)

    def respond(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        q = request.query
        with self._lock:
            problem = self._problem(q)
            if problem:
                self.refused.append(problem)
                return _json(400, {"Code": "SignatureDoesNotMatch", "Message": problem})
            if self.failures:
                return _json(self.failures.popleft(), {"Code": "ServiceUnavailable"})
            self.sent.append(q)
            return _json(200, {"Code": "OK", "Message": "OK", "RequestId": "req",
                               "BizId": f"{next(self._ids)}^0"})

    def _problem(self, q: dict[str, str]) -> str | None:
        for name in ("AccessKeyId", "Action", "Format", "PhoneNumbers", "SignName",
                     "SignatureMethod", "SignatureNonce", "SignatureVersion", "TemplateCode",
                     "Timestamp", "Version", "Signature"):
            if not q.get(name):
                return f"missing {name}"
        if q["AccessKeyId"] != ALIYUN_KEY_ID or q["Action"] != "SendSms" \
                or q["Version"] != "2017-05-25" or q["SignatureMethod"] != "HMAC-SHA1":
            return "wrong key, action, version or method"
        if q["Signature"] != aliyun_signature(q, ALIYUN_SECRET):
            return "signature does not match"
        sent = datetime.strptime(q["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if abs(datetime.now(UTC) - sent) > timedelta(minutes=15):
            return "timestamp too far off"
        if q["SignatureNonce"] in self._nonces:
            return "nonce used before"
        self._nonces.add(q["SignatureNonce"])
        return None

    def texts_to(self, phone: str) -> list[str]:
        with self._lock:
            return [json.loads(q["TemplateParam"])["content"] for q in self.sent
                    if q["PhoneNumbers"] == phone]


class FakeWeChat:
    def __init__(self) -> None:
        self.token_fetches = 0
        self.sent: list[dict[str, Any]] = []
        self._token: str | None = None
        self._msg_ids = itertools.count(200000)
        self._lock = threading.Lock()
        self.http = HttpReceiver(self.respond)

    def revoke_token(self) -> None:
        with self._lock:
            self._token = None

    def respond(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            if request.path == "/cgi-bin/token":
                q = request.query
                if q.get("grant_type") != "client_credential" or q.get("appid") != \
                        WECHAT_APP_ID or q.get("secret") != WECHAT_SECRET:
                    return _json(200, {"errcode": 40013, "errmsg": "invalid appid"})
                self.token_fetches += 1
                self._token = f"token-{self.token_fetches}"
                return _json(200, {"access_token": self._token, "expires_in": 7200})
            if request.path == "/cgi-bin/message/template/send":
                if self._token is None or request.query.get("access_token") != self._token:
                    return _json(200, {"errcode": 40001, "errmsg": "invalid credential"})
                body = json.loads(request.body)
                self.sent.append(body)
                return _json(200, {"errcode": 0, "errmsg": "ok",
                                   "msgid": next(self._msg_ids)})
        return _json(404, {"errcode": 404})
