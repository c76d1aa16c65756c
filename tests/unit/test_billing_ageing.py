"""Ageing buckets and their totals (BIL-04), no I/O."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from services.billing.domain.ageing import BUCKETS, Receivable, age, bucket_of

AS_OF = date(2026, 6, 30)


@pytest.mark.parametrize("days,bucket", [(-1, "current"), (0, "0-30"), (30, "0-30"),
                                         (31, "31-60"), (60, "31-60"), (61, "61-90"),
                                         (90, "61-90"), (91, "90+"), (400, "90+")])
def test_bucket_edges(days: int, bucket: str) -> None:
    assert bucket_of(AS_OF - timedelta(days=days), AS_OF) == bucket


def test_rows_and_totals_add_up_exactly() -> None:
    items = [
        Receivable("rep-a", "CNY", AS_OF - timedelta(days=30), Decimal("100.10")),
        Receivable("rep-a", "CNY", AS_OF - timedelta(days=31), Decimal("200.20")),
        Receivable("rep-a", "CNY", AS_OF + timedelta(days=5), Decimal("0.01")),
        Receivable("rep-b", "CNY", AS_OF - timedelta(days=91), Decimal("0.07")),
        Receivable("rep-b", "USD", AS_OF - timedelta(days=61), Decimal("5.00")),
        Receivable(None, "CNY", AS_OF - timedelta(days=60), Decimal("1.00")),
        Receivable("rep-b", "CNY", AS_OF, Decimal("0")),  # nothing outstanding: no row
    ]
    rows, totals = age(items, AS_OF)
    assert [(r.group, r.currency) for r in rows] == [(None, "CNY"), ("rep-a", "CNY"),
                                                     ("rep-b", "CNY"), ("rep-b", "USD")]
    a = rows[1]
    assert a.buckets == {"current": Decimal("0.01"), "0-30": Decimal("100.10"),
                         "31-60": Decimal("200.20"), "61-90": 0, "90+": 0}
    assert a.total == Decimal("300.31") and a.invoices == 3
    cny = totals["CNY"]
    for name in BUCKETS:
        assert cny.buckets[name] == sum(r.buckets[name] for r in rows if r.currency == "CNY")
    assert cny.total == sum(r.total for r in rows if r.currency == "CNY") == Decimal("301.38")
    assert totals["USD"].buckets["61-90"] == Decimal("5.00")
