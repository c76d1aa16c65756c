"""The notification service's background work, in every replica: message senders,
webhook senders and the scheduler, as green threads of the service process.

Replicas share the work through the database (rows claimed with SKIP LOCKED, calendar
runs taken once); in a process, threads wake when a commit made something due
(:meth:`Workers.wake`) and otherwise look again every ``CRM_NOTIFY_POLL_SECONDS``.
On SQLite (the laptop default) one sender of each kind runs: SQLite has no row locks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import eventlet
from crm_platform.db import insert_ignore, is_postgres
from crm_platform.service.providers import UnitOfWorkProvider
from eventlet.event import Event
from nameko.extensions import DependencyProvider
from sqlalchemy import delete

from services.notify.channels import NotConfigured, Provider
from services.notify.channels.aliyun_sms import AliyunSms
from services.notify.channels.smtp import SmtpMailer
from services.notify.channels.webhook_http import WebhookClient
from services.notify.channels.wechat import TokenCache, WeChatTemplates
from services.notify.db.models import ProviderToken
from services.notify.settings import NotifySettings, notify_settings
from services.notify.use_cases import configuration, scheduler, sending

log = logging.getLogger(__name__)


class Workers(DependencyProvider):  # type: ignore[misc]
    """``self.workers.wake()`` after a commit that made messages due."""

    def setup(self) -> None:
        self.settings = notify_settings()
        self._wake_messages = Event()
        self._wake_webhooks = Event()

    def _uow_provider(self) -> UnitOfWorkProvider:
        for extension in self.container.dependencies:
            if isinstance(extension, UnitOfWorkProvider):
                return extension
        raise RuntimeError("the notification service needs a UnitOfWorkProvider")

    def start(self) -> None:
        self.uows = self._uow_provider()
        shared = is_postgres(self.uows.engine)
        for _ in range(self.settings.senders if shared else 1):
            self.container.spawn_managed_thread(self._send_messages)
        for _ in range(self.settings.webhook_senders if shared else 1):
            self.container.spawn_managed_thread(self._send_webhooks)
        self.container.spawn_managed_thread(self._schedule)

    def get_dependency(self, worker_ctx: Any) -> Workers:
        return self

    def wake(self) -> None:
        for event in (self._wake_messages, self._wake_webhooks):
            if not event.ready():
                event.send(True)

    def _idle(self, event: Event) -> Event:
        """Wait for a wake-up or the poll interval; a fresh event for the next wait."""
        with eventlet.Timeout(self.settings.poll_seconds, False):
            event.wait()
        return Event() if event.ready() else event

    # -- loops --------------------------------------------------------------------------------
    def _send_messages(self) -> None:
        providers = build_providers(self.settings, self._token_cache())
        try:
            self._loop(lambda: _with(self.uows.make_uow(), lambda uow:
                                     sending.send_next(uow, providers, self.settings)),
                       "messages")
        finally:
            for provider in providers.values():
                provider.close()

    def _send_webhooks(self) -> None:
        s = self.settings
        client = WebhookClient(s.allowed_hosts, s.webhook_connect_timeout,
                               s.webhook_read_timeout, s.webhook_max_response_bytes)
        try:
            self._loop(lambda: _with(self.uows.make_uow(), lambda uow:
                                     sending.deliver_next_webhook(uow, client, s)), "webhooks")
        finally:
            client.close()

    def _loop(self, step: Callable[[], bool], kind: str) -> None:
        while True:
            try:
                busy = step()
            except Exception:  # keep sending; the row stays due and is tried again
                log.exception("sending %s failed", kind)
                busy = False
            if not busy:
                if kind == "messages":
                    self._wake_messages = self._idle(self._wake_messages)
                else:
                    self._wake_webhooks = self._idle(self._wake_webhooks)

    def _schedule(self) -> None:
        while True:  # the defaults first: a new installation starts with them
            try:
                _with(self.uows.make_uow(), configuration.add_defaults)
                break
            except Exception:
                log.exception("adding the default rules failed; trying again")
                eventlet.sleep(self.settings.scheduler_seconds)
        while True:
            try:
                while _with(self.uows.make_uow(), scheduler.run_due_reminders):
                    pass
                _with(self.uows.make_uow(), scheduler.run_calendar)
                self.wake()
            except Exception:  # the next round tries again
                log.exception("scheduler run failed")
            eventlet.sleep(self.settings.scheduler_seconds)

    # -- WeChat's access token, one for every replica ---------------------------------------------
    def _token_cache(self) -> TokenCache:
        def stored(fetch: Callable[[], tuple[str, int]]) -> tuple[str, datetime]:
            with self.uows.make_uow() as uow:
                s = uow.session
                row = s.get(ProviderToken, "wechat", with_for_update=True)
                now = datetime.now(UTC)
                if row is None:
                    insert_ignore(s, ProviderToken.__table__, {
                        "provider": "wechat", "token": "", "expires_at": now})
                    row = s.get(ProviderToken, "wechat", with_for_update=True,
                                populate_existing=True)
                assert row is not None
                if not row.token or row.expires_at <= now + timedelta(minutes=5):
                    token, lifetime = fetch()
                    row.token, row.expires_at = token, now + timedelta(seconds=lifetime)
                uow.commit()
                return row.token, row.expires_at

        def forget(token: str) -> None:
            with self.uows.make_uow() as uow:
                uow.session.execute(delete(ProviderToken).where(
                    ProviderToken.provider == "wechat", ProviderToken.token == token))
                uow.commit()

        return TokenCache(stored, forget)


def _with(uow: Any, work: Callable[[Any], Any]) -> Any:
    with uow:
        return work(uow)


def build_providers(settings: NotifySettings, tokens: TokenCache) -> dict[str, Provider]:
    """One adapter per channel, or one that says what setting is missing."""
    email: Provider = SmtpMailer(settings) if settings.smtp_host else NotConfigured(
        "smtp", "email is not configured (CRM_SMTP_HOST is not set)")
    sms: Provider = AliyunSms(settings) if settings.aliyun_access_key_id else NotConfigured(
        "aliyun_sms", "SMS is not configured (CRM_ALIYUN_ACCESS_KEY_ID is not set)")
    wechat: Provider = WeChatTemplates(settings, tokens) if settings.wechat_app_id \
        else NotConfigured("wechat", "WeChat is not configured (CRM_WECHAT_APP_ID is not set)")
    return {"email": email, "sms": sms, "wechat": wechat}
