"""The nightly classification (CUS-11) on a real database, PostgreSQL and the SQLite laptop
default: it classifies page by page, one committed transaction per page, writes and
announces only the customers whose classes change, and stays correct when it crashes
midway or when two replicas run it at once."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest
from crm_platform.db import make_engine, session_factory
from crm_platform.migrations import upgrade
from crm_platform.uow import UnitOfWork
from sqlalchemy import Engine, Table, delete, func, insert, select, update

from services.customer.db import queries
from services.customer.db.models import MESSAGING, Customer, Setting
from services.customer.domain.classification import (
    Classification,
    Facts,
    Thresholds,
    classify,
    compute_cutoffs,
)
from services.customer.use_cases import classification
from tests.support.infra import migrated_engine

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
ACTIVE = 23
PAGE = 5  # pages of 5, 5, 5, 5, 3
FIELDS = classification.FIELDS
OUTBOX = MESSAGING.outbox
CUSTOMERS = cast(Table, Customer.__table__)
SETTINGS = cast(Table, Setting.__table__)


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Engine]:
    sqlite = f"sqlite:///{tmp_path_factory.mktemp('classify') / 'customer.db'}"
    with migrated_engine("customer", "crm_classify",
                         None if request.param == "postgresql" else sqlite) as engine:
        yield engine


@pytest.fixture
def population(engine: Engine) -> dict[str, Facts]:
    """23 active customers, never classified, with spread-out revenue, orders, purchases
    and visits (some tied), plus two archived ones the run must leave alone."""
    with engine.begin() as conn:
        for table in (CUSTOMERS, OUTBOX, SETTINGS):
            conn.execute(delete(table))
        facts: dict[str, Facts] = {}
        for i in range(ACTIVE + 2):
            buyer = i % 4 != 0
            f = Facts(
                created_at=NOW - timedelta(days=30 + 37 * i),
                paid_revenue=Decimal(((i * 7919) % 23) * 50_000 if buyer else 0),
                paid_orders=(i % 7) if buyer else 0,
                last_purchase_at=NOW - timedelta(days=(i * 53) % 400, hours=i) if buyer
                else None,
                last_visit_at=NOW - timedelta(days=(i * 31) % 300) if i % 3 else None)
            cid = f"c-{i:03d}"
            conn.execute(insert(CUSTOMERS).values(
                id=cid, code=f"C{i:05d}", name=f"客户{i}", kind="company",
                status="active" if i < ACTIVE else "archived", **vars(f)))
            if i < ACTIVE:
                facts[cid] = f
    return facts


def _uow(engine: Engine) -> UnitOfWork:
    return UnitOfWork(session_factory(engine), MESSAGING, "customer")


def _run(engine: Engine, *, force: bool = False, pause: Callable[[], None] = lambda: None
         ) -> int:
    with _uow(engine) as uow:
        return classification.run_nightly(uow, now=NOW, force=force, page_size=PAGE,
                                          pause=pause)


def _classes(engine: Engine) -> dict[str, Classification]:
    c = CUSTOMERS.c
    with engine.connect() as conn:
        rows = conn.execute(select(c.id, *(c[f] for f in FIELDS)).order_by(c.id))
        return {r.id: Classification(*r[1:]) for r in rows}


def _events(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        bodies = conn.execute(select(OUTBOX.c.body).where(
            OUTBOX.c.routing_key == "customer.classified")).scalars()
        return [json.loads(b)["data"] for b in bodies]


def _expected(facts: dict[str, Facts]) -> dict[str, Classification]:
    """What the rules give with cutoffs over the whole active population at once."""
    t = Thresholds()
    cutoffs = compute_cutoffs(list(facts.values()), t)
    return {cid: classify(f, NOW, t, cutoffs) for cid, f in facts.items()}


def test_each_page_commits_on_its_own_and_everyone_ends_classified(
        engine: Engine, population: dict[str, Facts]) -> None:
    expected = _expected(population)
    before = _classes(engine)
    to_change = {cid for cid, want in expected.items() if before[cid] != want}
    assert len(to_change) > PAGE * 3  # the data set spans pages with changes in each
    seen_at_pauses: list[tuple[int, int]] = []

    def pause() -> None:  # what another connection sees between pages
        now = _classes(engine)
        done = [cid for cid in sorted(population) if now[cid] == expected[cid]]
        seen_at_pauses.append((len(done), len(_events(engine))))

    assert _run(engine, force=True, pause=pause) == len(to_change)
    # a pause after every page but the last; at each, whole pages are committed in id
    # order, their events with them
    assert len(seen_at_pauses) == -(-ACTIVE // PAGE) - 1
    for page, (done, events) in enumerate(seen_at_pauses, start=1):
        in_pages = sorted(population)[:page * PAGE]
        assert done >= len(in_pages)
        assert events == len(to_change & set(in_pages))
    after = _classes(engine)
    assert {cid: after[cid] for cid in population} == expected
    assert after["c-023"] == before["c-023"] and after["c-024"] == before["c-024"]
    announced = _events(engine)
    assert sorted(e["id"] for e in announced) == sorted(to_change)
    for e in announced:
        assert e["tier"] == expected[e["id"]].tier
        assert Decimal(e["paid_revenue"]) == population[e["id"]].paid_revenue
    with engine.connect() as conn:
        cutoffs = conn.execute(select(Setting.value).where(
            Setting.name == classification.CUTOFFS)).scalar_one()
    want = compute_cutoffs(list(population.values()), Thresholds())
    assert Decimal(cutoffs["tier_a_min"]) == want.tier_a_min
    assert Decimal(cutoffs["tier_b_min"]) == want.tier_b_min
    assert [datetime.fromisoformat(at) for at in cutoffs["recency"]] == list(want.recency)
    assert cutoffs["frequency"] == list(want.frequency)
    assert cutoffs["monetary"] == list(want.monetary)
    # nothing left to change: the next run writes and announces nothing
    assert _run(engine, force=True) == 0
    assert len(_events(engine)) == len(to_change)


def test_only_customers_whose_classes_change_are_written_and_announced(
        engine: Engine, population: dict[str, Facts]) -> None:
    _run(engine, force=True)
    before = Counter(e["id"] for e in _events(engine))
    # a visit logged by a path that does not reclassify: visits feed no cutoff, so this
    # customer alone changes
    idle = next(cid for cid, c in _expected(population).items()
                if c.lifecycle in ("at_risk", "lost"))
    with engine.begin() as conn:
        conn.execute(update(CUSTOMERS).where(Customer.id == idle)
                     .values(last_visit_at=NOW - timedelta(days=1)))
    assert _run(engine, force=True) == 1
    events = _events(engine)
    assert Counter(e["id"] for e in events) - before == Counter({idle: 1})
    assert [e["lifecycle"] for e in events if e["id"] == idle][-1] in ("general", "loyal")


def test_a_run_that_crashes_midway_is_finished_by_the_next_one(
        engine: Engine, population: dict[str, Facts]) -> None:
    expected = _expected(population)
    to_change = {cid for cid, c in _classes(engine).items() if expected.get(cid, c) != c}
    pauses = 0

    def crash_after_two_pages() -> None:
        nonlocal pauses
        pauses += 1
        if pauses == 2:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        _run(engine, pause=crash_after_two_pages)
    half = _classes(engine)
    first_pages = sorted(population)[:2 * PAGE]
    assert all(half[cid] == expected[cid] for cid in first_pages)
    assert {e["id"] for e in _events(engine)} == to_change & set(first_pages)
    # the crashed run still holds its lease: a replica's timer firing now does nothing
    assert _run(engine) == 0
    assert len(_events(engine)) == len(to_change & set(first_pages))
    # once the lease lapses the next tick runs again and finishes, announcing each
    # customer once over the two runs
    _expire_lease(engine)
    _run(engine)
    after = _classes(engine)
    assert {cid: after[cid] for cid in population} == expected
    assert sorted(e["id"] for e in _events(engine)) == sorted(to_change)
    assert _run(engine) == 0  # finished: not again until run_every_hours have passed


def _expire_lease(engine: Engine) -> None:
    with engine.begin() as conn:
        value = conn.execute(select(Setting.value).where(
            Setting.name == classification.RUN)).scalar_one()
        value["running"]["lease_until"] = (datetime.now(UTC) - timedelta(seconds=1)
                                           ).isoformat()
        conn.execute(update(SETTINGS).where(Setting.name == classification.RUN)
                     .values(value=value))


def test_two_replicas_never_run_it_together(engine: Engine, population: dict[str, Facts]
                                            ) -> None:
    expected = _expected(population)
    to_change = {cid for cid, c in _classes(engine).items() if expected.get(cid, c) != c}
    others: list[int] = []

    def meanwhile() -> None:
        if not others:  # the other replica's timer fires while this run is going
            others.append(_run(engine))
        elif len(others) == 1:  # an admin forces a recompute: it takes the run over
            others.append(_run(engine, force=True))

    first = _run(engine, pause=meanwhile)
    assert others[0] == 0
    # the first run stopped after its second page; the forced run did the rest
    assert first + others[1] == len(to_change)
    after = _classes(engine)
    assert {cid: after[cid] for cid in population} == expected
    assert sorted(e["id"] for e in _events(engine)) == sorted(to_change)


def test_classes_computed_from_stale_facts_are_not_written(
        engine: Engine, population: dict[str, Facts]) -> None:
    with _uow(engine) as uow:
        page = queries.classification_page(uow.session, "", PAGE)
        # meanwhile a payment event updated the first customer and reclassified it
        with engine.begin() as conn:
            conn.execute(update(CUSTOMERS).where(Customer.id == page[0].id)
                         .values(paid_revenue=page[0].paid_revenue + 1, tier="A"))
        rows = [{**r._mapping, "tier": "B"} for r in page]
        assert queries.store_classes(uow.session, rows) == {r.id for r in page[1:]}
        uow.commit()
    with engine.connect() as conn:
        tiers = {cid: tier for cid, tier in conn.execute(
            select(Customer.id, Customer.tier).where(Customer.id.in_([r.id for r in page])))}
        assert tiers[page[0].id] == "A"
        assert conn.execute(select(func.count()).select_from(CUSTOMERS)
                            .where(Customer.tier == "B")).scalar_one() == PAGE - 1


def test_an_empty_population_finishes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    upgrade("customer", url)
    engine = make_engine(url)
    try:
        assert _run(engine, force=True) == 0
        with engine.connect() as conn:
            run = conn.execute(select(Setting.value).where(
                Setting.name == classification.RUN)).scalar_one()
        assert run == {"finished_at": NOW.isoformat(), "customers": 0, "changed": 0}
    finally:
        engine.dispose()


def test_an_order_counts_while_money_is_on_it(engine: Engine,
                                              population: dict[str, Facts]) -> None:
    """Confirmation counts nothing; a payment counts the orders it reached, a credit
    balance applied later counts its order, and a refund of all of an order's money
    takes it back (issue #28, defect 8)."""
    cid = "c-004"  # no purchase yet (every fourth customer)

    def paid_orders() -> tuple[int, Decimal]:
        with engine.connect() as conn:
            row = conn.execute(select(CUSTOMERS.c.paid_orders, CUSTOMERS.c.paid_revenue)
                               .where(CUSTOMERS.c.id == cid)).one()
        return int(row[0]), Decimal(row[1])

    def apply(handler: Callable[[UnitOfWork], None]) -> tuple[int, Decimal]:
        with _uow(engine) as uow:
            handler(uow)
            uow.commit()
        return paid_orders()

    at = NOW.isoformat()
    assert apply(lambda uow: classification.on_order_confirmed(uow, {
        "customer_id": cid, "confirmed_at": at})) == (0, 0)
    assert apply(lambda uow: classification.on_payment(uow, {
        "customer_id": cid, "amount": "700.00", "currency": "CNY", "received_at": at,
        "allocations": [{"invoice_id": "i-1", "order_id": "o-1", "amount": "300.00"},
                        {"invoice_id": "i-2", "order_id": "o-1", "amount": "100.00"},
                        {"invoice_id": "i-3", "order_id": "o-2", "amount": "300.00"}]},
        +1)) == (2, Decimal("700.00"))
    assert apply(lambda uow: classification.on_payment_allocated(uow, {
        "customer_id": cid, "currency": "CNY",
        "allocations": [{"invoice_id": "i-4", "order_id": "o-3", "amount": "50.00"}]})) == (
        3, Decimal("700.00"))
    assert apply(lambda uow: classification.on_payment(uow, {
        "customer_id": cid, "amount": "350.00", "currency": "CNY", "refunded_at": at,
        "allocations": [{"invoice_id": "i-3", "order_id": "o-2", "amount": "300.00"},
                        {"invoice_id": "i-4", "order_id": "o-3", "amount": "50.00"}]},
        -1)) == (1, Decimal("350.00"))
