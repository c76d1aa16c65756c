"""WeChat Official Account template messages.

``POST /cgi-bin/message/template/send?access_token=…`` with ``{touser: openid,
template_id, data: {title: {value}, content: {value}}}``; the account's template must
have ``{{title.DATA}}`` and ``{{content.DATA}}``. The access token
(``GET /cgi-bin/token?grant_type=client_credential``) lives two hours and fetching a new
one ends the old one after a few minutes, so one token is kept for every replica
(:class:`TokenCache`, backed by a database row) and fetched again only when it is about
to expire or WeChat says it is no longer valid.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx

from services.notify.channels import OutgoingMessage, SendFailed, Sent
from services.notify.domain.delivery import Failure, http_failure, network_failure
from services.notify.settings import NotifySettings

TOKEN_ERRORS = frozenset({40001, 40014, 42001})  # invalid or expired access token
RETRIABLE_ERRORS = frozenset({-1, 45009})  # system busy, API rate limit
EXPIRY_MARGIN = timedelta(minutes=5)

# ``stored(fetch)``: the token kept for every replica, fetched with ``fetch`` (which
# returns the token and its lifetime in seconds) when missing or about to expire;
# ``forget(token)`` drops a token WeChat refused
StoredToken = Callable[[Callable[[], tuple[str, int]]], tuple[str, datetime]]
ForgetToken = Callable[[str], None]


class TokenCache:
    """The process's copy of the shared token, so a send reads no row."""

    def __init__(self, stored: StoredToken, forget: ForgetToken) -> None:
        self._stored = stored
        self._forget = forget
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = datetime.min.replace(tzinfo=UTC)

    def get(self, fetch: Callable[[], tuple[str, int]]) -> str:
        with self._lock:
            if self._token is None or datetime.now(UTC) >= self._expires - EXPIRY_MARGIN:
                self._token, self._expires = self._stored(fetch)
            return self._token

    def invalidate(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None
        self._forget(token)


class WeChatTemplates:
    name = "wechat"

    def __init__(self, settings: NotifySettings, tokens: TokenCache) -> None:
        self.settings = settings
        self.tokens = tokens
        self.client = httpx.Client(timeout=settings.provider_timeout, follow_redirects=False)

    def _url(self, path: str) -> str:
        return self.settings.wechat_url.rstrip("/") + path

    def fetch_token(self) -> tuple[str, int]:
        s = self.settings
        try:
            response = self.client.get(self._url("/cgi-bin/token"), params={
                "grant_type": "client_credential", "appid": s.wechat_app_id or "",
                "secret": s.wechat_app_secret or ""})
        except httpx.HTTPError as exc:
            raise SendFailed(network_failure(f"token: {type(exc).__name__}: {exc}"),
                             self.name) from exc
        if response.status_code != 200:
            raise SendFailed(http_failure(response.status_code, response.text), self.name)
        answer = response.json()
        if "access_token" not in answer:
            code = int(answer.get("errcode", 0))
            raise SendFailed(Failure(f"token: {code} {answer.get('errmsg')}",
                                     retriable=code in RETRIABLE_ERRORS), self.name)
        return str(answer["access_token"]), int(answer.get("expires_in", 7200))

    def send(self, message: OutgoingMessage) -> Sent:
        body = json.dumps({
            "touser": message.address,
            "template_id": message.provider_template or self.settings.wechat_template_id,
            "data": {"title": {"value": message.subject}, "content": {"value": message.text}},
        }, ensure_ascii=False).encode()
        for _ in range(2):  # once more with a new token if WeChat refused the one we had
            token = self.tokens.get(self.fetch_token)
            try:
                response = self.client.post(
                    self._url("/cgi-bin/message/template/send"),
                    params={"access_token": token}, content=body,
                    headers={"Content-Type": "application/json; charset=utf-8"})
            except httpx.HTTPError as exc:
                raise SendFailed(network_failure(f"{type(exc).__name__}: {exc}"),
                                 self.name) from exc
            if response.status_code != 200:
                raise SendFailed(http_failure(response.status_code, response.text),
                                 self.name)
            answer = response.json()
            code = int(answer.get("errcode", 0))
            if code in TOKEN_ERRORS:
                self.tokens.invalidate(token)
                continue
            if code != 0:
                raise SendFailed(Failure(f"{code}: {answer.get('errmsg')}",
                                         retriable=code in RETRIABLE_ERRORS), self.name)
            return Sent(self.name, str(answer.get("msgid")), response.text[:2000])
        raise SendFailed(Failure("WeChat refused a freshly fetched access token",
                                 retriable=True), self.name)

    def close(self) -> None:
        self.client.close()
