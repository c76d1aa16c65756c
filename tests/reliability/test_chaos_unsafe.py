"""R2 (issue 26): the chaos harness can fail. The short chaos test's load, faults and
counting (``test_chaos.py``, which finds nothing lost or applied twice) run again on a
platform with one guarantee switched off by a test-only setting (``CRM_TESTING=1`` plus
``CRM_TEST_UNSAFE_NO_OUTBOX`` or ``CRM_TEST_UNSAFE_NO_INBOX``; refused anywhere else,
see ``crm_platform.settings``), and the counts must show it:

- without the outbox, events are published after the commit only: the two times the
  broker drops sales' connections, sales' next publish fails and its event is gone, an
  order missing from the documents service's copy or a confirmed order without a plan;
- without the inbox, the payment the customer service was applying when the broker
  dropped its connections (committed, ack lost) is delivered again and counted twice in
  the customer's paid revenue.

Fewer units than the short test: the faults that tell are certain, not a matter of
how much load meets them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.chaos import (
    Fault,
    Figures,
    Load,
    ready_seller,
    settle_and_count,
    short_faults,
)
from tests.support.platform import running_platform

pytestmark = pytest.mark.integration

UNITS = 40  # five writes each: 200 operations
RPC_TIMEOUT = 15.0


def chaos_with(tmp: Path, switch: str) -> tuple[Figures, list[Fault]]:
    """The short chaos test on a platform with ``switch`` on."""
    with running_platform(tmp, CRM_RPC_TIMEOUT=str(RPC_TIMEOUT),
                          CRM_RATE_LIMIT_PER_SECOND="100000", CRM_RATE_LIMIT_BURST="100000",
                          CRM_TESTING="1", **{switch: "1"}) as platform:
        load = Load(platform, ready_seller(platform), UNITS)
        faults = short_faults()
        seconds = load.run(faults)
        figures = settle_and_count(platform, load, faults, seconds, RPC_TIMEOUT)
    print(f"{switch}: {figures.line()}")
    for failure in figures.failed_units[:5]:
        print(f"  failed unit {failure}")
    return figures, faults


def test_without_the_outbox_the_harness_counts_events_lost(tmp_path: Path) -> None:
    figures, faults = chaos_with(tmp_path, "CRM_TEST_UNSAFE_NO_OUTBOX")
    dropped = [f.hit for f in faults if f.kind == "amqp" and f.service == "sales"]
    assert len(dropped) == 2 and all(dropped), faults  # sales' connections were closed
    assert figures.order_copies_missing + figures.plans_missing >= 1, figures.line()
    assert figures.lost >= 1


def test_without_the_inbox_the_harness_counts_events_applied_twice(tmp_path: Path) -> None:
    figures, faults = chaos_with(tmp_path, "CRM_TEST_UNSAFE_NO_INBOX")
    caught = [f.hit for f in faults if f.kind == "unacked"]
    assert caught and all(caught), faults  # a payment was being applied when the ack was lost
    assert figures.revenue_doubled >= 1, figures.line()
    assert figures.applied_twice >= figures.revenue_doubled
