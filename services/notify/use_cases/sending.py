"""Sending what is due: messages (NTF-01, NTF-06) and webhook deliveries (NTF-07).

One message per transaction: the row is claimed with ``FOR UPDATE SKIP LOCKED`` (other
senders and replicas pass it by), the provider is called while the row stays locked,
and the outcome commits at once. A process that dies before the provider answered
leaves the row queued (its lock goes with its connection) and it is sent again; only a
death between the provider's acceptance and the commit — one round trip — can send it
twice, and then with the same ``webhook-id`` / ``Message-ID``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from crm_platform import webhook_signing
from crm_platform.db import utcnow
from crm_platform.uow import UnitOfWork
from sqlalchemy import update

from services.notify.channels import OutgoingMessage, Provider, SendFailed, Sent
from services.notify.channels.webhook_http import Answer, Refused, WebhookClient
from services.notify.db import queries
from services.notify.db.models import (
    Delivery,
    WebhookAttempt,
    WebhookEndpoint,
)
from services.notify.domain import webhooks
from services.notify.domain.delivery import DELIVERY, after_failure
from services.notify.events import WebhookEndpointDisabled
from services.notify.settings import NotifySettings
from services.notify.use_cases.planning import unsubscribe_token

UowFactory = Callable[[], UnitOfWork]


def outgoing(row: Delivery, settings: NotifySettings) -> OutgoingMessage:
    unsubscribe = None
    if row.channel == "email" and row.recipient_kind != "staff" \
            and row.category in ("marketing", "care"):
        unsubscribe = f"{settings.public_url.rstrip('/')}/api/v1/unsubscribe/" \
            f"{unsubscribe_token(f'{row.recipient_kind}:{row.recipient_id}')}"
    return OutgoingMessage(row.id, row.channel, row.address or "", row.recipient_name,
                           row.subject, row.body_text, row.body_html, row.provider_template,
                           unsubscribe)


def send_next(uow: UnitOfWork, providers: dict[str, Provider], settings: NotifySettings,
              now: datetime | None = None) -> bool:
    """Send one due message; False when none is due."""
    now = now or utcnow()
    row = queries.claim_due_delivery(uow.session, now, tuple(providers))
    if row is None:
        return False
    if queries.opted_out_keys(uow.session, [f"{row.recipient_kind}:{row.recipient_id}"]) \
            and row.category in ("marketing", "care"):
        row.status, row.reason, row.updated_at = "suppressed", "opted_out", now
        uow.commit()
        return True
    provider, message = providers[row.channel], outgoing(row, settings)
    # the outcome is written before the call, so that once the provider has accepted the
    # message only the COMMIT remains to be sent (no round trip, no other green thread
    # in between); a refusal puts the row back as it was, still locked, and records it
    before = row.status, row.sent_at, row.updated_at
    row.attempts += 1
    row.status = DELIVERY.next(row.status, "send")
    row.sent_at = row.updated_at = now
    row.reason = None
    uow.flush()
    try:
        sent: Sent = provider.send(message)
    except SendFailed as exc:
        row.status, row.sent_at, row.updated_at = before
        _record_failure(uow, row, exc, settings)
        return True
    uow.commit()
    row.provider, row.provider_message_id = sent.provider, sent.message_id
    row.provider_response = sent.response[:2000]
    uow.commit()
    return True


def _record_failure(uow: UnitOfWork, row: Delivery, exc: SendFailed,
                    settings: NotifySettings) -> None:
    """Record a refused attempt on the row its sender still holds locked: a lock let go
    between the answer and this record would let another sender claim the row and send
    it again at once, past the back-off."""
    now = utcnow()
    row.provider, row.reason, row.updated_at = exc.provider, exc.failure.error, now
    row.provider_response = exc.failure.error[:2000]
    retry_at = after_failure(row.attempts, exc.failure, now, settings.retry_base_seconds,
                             settings.max_attempts)
    if retry_at is None:
        row.status = DELIVERY.next(row.status, "fail")
    else:
        row.status, row.due_at = DELIVERY.next(row.status, "retry"), retry_at
    uow.commit()


# -- webhooks ----------------------------------------------------------------------------------
def webhook_headers(endpoint: WebhookEndpoint, delivery_id: str, body: bytes,
                    now: datetime) -> dict[str, str]:
    timestamp = int(now.timestamp())
    keys = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at \
            and endpoint.previous_secret_expires_at > now:
        keys.append(endpoint.previous_secret)
    return {
        "webhook-id": delivery_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhook_signing.signature_header(keys, delivery_id, timestamp, body),
        "content-type": "application/json",
        "user-agent": "crm-platform-webhooks/1",
    }


def deliver_next_webhook(uow: UnitOfWork, client: WebhookClient, settings: NotifySettings,
                         now: datetime | None = None) -> bool:
    """Attempt one due webhook delivery; False when none is due. As for messages, the
    success is written before the call and committed as soon as a 2xx arrives; any
    other outcome rolls it back and is written after."""
    now = now or utcnow()
    s = uow.session
    row = queries.claim_due_webhook(s, now)
    if row is None:
        return False
    endpoint = s.get(WebhookEndpoint, row.endpoint_id)
    assert endpoint is not None  # a delivery's endpoint is never deleted while it has rows
    body, delivery_id, url = row.body.encode(), row.id, endpoint.url
    headers = webhook_headers(endpoint, row.id, body, now)
    trigger = "replay" if row.replay else ("retry" if row.attempts else "first")
    row.attempts += 1
    row.status, row.succeeded_at, row.next_attempt_at, row.replay = \
        "succeeded", now, None, False
    row.last_status_code, row.last_error = 200, None
    s.flush()
    try:
        answer = client.post(url, headers, body)
    except Refused as exc:
        answer = Answer(None, None, f"refused by the SSRF guard: {exc}", 0)
    if answer.status is not None and 200 <= answer.status < 300:
        uow.commit()
        row.last_status_code = answer.status
        _attempt(uow, delivery_id, answer, trigger)
        if endpoint.failing_since is not None:
            s.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint.id)
                      .values(failing_since=None))
        uow.commit()
        return True
    # the row is still locked: the failure is written over the success in the same
    # transaction, so no other sender can claim the delivery and post it again meanwhile
    finished = utcnow()
    final = answer.status is not None and not webhooks.retriable_status(answer.status)
    if answer.error and answer.error.startswith("refused by the SSRF guard"):
        final = True
    retry_at = None if final else webhooks.next_attempt(row.attempts, finished,
                                                        settings.retry_schedule)
    row.succeeded_at = None
    row.last_status_code, row.last_error = answer.status, answer.error
    row.status, row.next_attempt_at = ("pending" if retry_at else "failed"), retry_at
    _attempt(uow, delivery_id, answer, trigger)
    _endpoint_failed(uow, row.endpoint_id, finished,
                     timedelta(hours=settings.webhook_disable_after_hours))
    uow.commit()
    return True


def _attempt(uow: UnitOfWork, delivery_id: str, answer: Answer, trigger: str) -> None:
    uow.session.add(WebhookAttempt(delivery_id=delivery_id, attempted_at=utcnow(),
                                   status_code=answer.status, error=answer.error,
                                   response_body=(answer.body or "")[:1000] or None,
                                   duration_ms=answer.duration_ms, trigger=trigger))


def _endpoint_failed(uow: UnitOfWork, endpoint_id: str, now: datetime,
                     disable_after: timedelta) -> None:
    s = uow.session
    s.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id,
                                            WebhookEndpoint.failing_since.is_(None))
              .values(failing_since=now))
    endpoint = queries.endpoint(s, endpoint_id)
    s.refresh(endpoint)
    if endpoint.status == "active" and webhooks.should_disable(endpoint.failing_since, now,
                                                               disable_after):
        endpoint = queries.endpoint(s, endpoint_id, lock=True)
        if endpoint.status != "active":
            return
        reason = f"every delivery failed since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC"
        endpoint.status = webhooks.ENDPOINT.next(endpoint.status, "disable")
        endpoint.disabled_reason, endpoint.version = reason, endpoint.version + 1
        endpoint.updated_at = now
        assert endpoint.failing_since is not None
        uow.publish(WebhookEndpointDisabled(id=endpoint.id, url=endpoint.url,
                                            failing_since=endpoint.failing_since,
                                            reason=reason))

