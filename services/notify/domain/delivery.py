"""A message's life (NTF-06) and the retry rules of every provider call.

queued → sent → delivered | failed; queued → failed (a permanent refusal, or out of
attempts); a delivery refused by consent is created ``suppressed`` and stays so.

A failure is retried with exponential back-off when it may pass later — a time-out, a
connection error, a 5xx (or an SMTP 4xx, SMTP's "try again later") — and not when the
provider refused the message itself (an HTTP 4xx, an SMTP 5xx).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from crm_platform.states import StateMachine

DELIVERY = StateMachine("delivery", {
    "send": ("queued", "sent"),
    "retry": ("queued", "queued"),
    "fail": ("queued sent", "failed"),
    "confirm": ("sent", "delivered"),
    "requeue": ("failed", "queued"),
})

MAX_ATTEMPTS = 6


@dataclass(frozen=True)
class Failure:
    """What went wrong with one provider call."""

    error: str
    retriable: bool
    status: int | None = None


def http_failure(status: int, body: str) -> Failure:
    return Failure(f"HTTP {status}: {body[:500]}", retriable=status >= 500 or status == 429,
                   status=status)


def smtp_failure(code: int, message: str) -> Failure:
    return Failure(f"SMTP {code}: {message[:500]}", retriable=400 <= code < 500, status=code)


def network_failure(error: str) -> Failure:
    return Failure(error[:500], retriable=True)


def backoff(attempts: int, base_seconds: float, *, jitter: float = 0.2) -> timedelta:
    """Wait before attempt ``attempts + 1``: base · 2^(attempts−1), ± ``jitter``."""
    seconds = base_seconds * (2 ** max(attempts - 1, 0))
    return timedelta(seconds=seconds * (1 + random.uniform(-jitter, jitter)))


def after_failure(attempts: int, failure: Failure, now: datetime, base_seconds: float,
                  max_attempts: int = MAX_ATTEMPTS) -> datetime | None:
    """When to try again after ``attempts`` tries ended in ``failure``; None: give up."""
    if not failure.retriable or attempts >= max_attempts:
        return None
    return now + backoff(attempts, base_seconds)
