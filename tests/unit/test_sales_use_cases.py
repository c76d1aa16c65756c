"""Sales' write use cases (leads, opportunities, quotes, orders) against in-memory
repositories: no database, no broker. Billing's credit check is a plain function here,
as the use case takes it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from crm_platform.auth import Caller
from crm_platform.db import utcnow
from crm_platform.errors import (
    Conflict,
    Forbidden,
    NotFound,
    StaleVersion,
    StateViolation,
    ValidationFailed,
)
from crm_platform.fakes import InMemoryUnitOfWork, OwnedTable, Sequences, Settings, Table
from crm_platform.read_models import Fetch

from services.sales import schemas
from services.sales.db.models import (
    CustomerCopy,
    Delivery,
    Lead,
    Opportunity,
    Order,
    PipelineStage,
    Product,
    Quote,
    Staff,
    StageChange,
)
from services.sales.db.rollups import Snapshot
from services.sales.use_cases import orders, pipeline
from services.sales.use_cases.common import DEFAULTS

REP = Caller(user_id="rep-1", roles=["sales_rep"], scope="own")
MANAGER = Caller(user_id="boss-1", roles=["sales_manager"], scope="team",
                 member_ids=["rep-1"])
YEAR = utcnow().year


# -- in-memory repositories (the protocols of services/sales/repositories.py) ------------
class Customers:
    def __init__(self) -> None:
        self.table: Table[CustomerCopy] = Table()

    def copy_of(self, customer_id: str, fetch: Fetch | None) -> CustomerCopy | None:
        found = self.table.get(customer_id)
        while found is not None and found.merged_into_id:
            found = self.table.get(found.merged_into_id)
        return found

    def get(self, customer_id: str) -> CustomerCopy | None:
        return self.table.get(customer_id)


class Quotes(OwnedTable[Quote]):
    def live(self, customer_id: str, opportunity_id: str | None) -> list[Quote]:
        return self.where(lambda q: q.status in ("draft", "pending_approval", "approved",
                                                 "rejected"),
                          customer_id=customer_id, opportunity_id=opportunity_id)


class Products:
    def __init__(self) -> None:
        self.table: Table[Product] = Table()

    def many(self, ids: Iterable[str]) -> list[Product]:
        return [p for p in (self.table.get(i) for i in set(ids)) if p is not None]


class Stages:
    def __init__(self) -> None:
        self.table: Table[PipelineStage] = Table()

    def get(self, stage_id: str) -> PipelineStage | None:
        return self.table.get(stage_id)

    def first_active(self) -> PipelineStage | None:
        active = sorted(self.table.where(is_active=True), key=lambda st: st.position)
        return active[0] if active else None


class People:
    def __init__(self) -> None:
        self.table: Table[Staff] = Table()
        self.managers: dict[str, str] = {}  # user → their manager

    def get(self, user_id: str) -> Staff | None:
        return self.table.get(user_id)

    def team_of(self, user_id: str | None) -> str | None:
        staff = self.table.get(user_id) if user_id else None
        return staff.team_id if staff else None

    def manager_of(self, user_id: str | None) -> str | None:
        return self.managers.get(user_id or "")


class Totals:
    """The rollups are SQL upserts; here the moves they are asked for are noted."""

    def __init__(self) -> None:
        self.moves: list[tuple[Snapshot | None, Snapshot | None]] = []

    def move(self, before: Snapshot | None, after: Snapshot | None) -> None:
        self.moves.append((before, after))


class SalesRepos:
    def __init__(self) -> None:
        self.customers = Customers()
        self.leads: OwnedTable[Lead] = OwnedTable("lead")
        self.opportunities: OwnedTable[Opportunity] = OwnedTable("opportunity")
        self.quotes = Quotes("quote")
        self.orders: OwnedTable[Order] = OwnedTable("order")
        self.deliveries: Table[Delivery] = Table()
        self.stage_changes: Table[StageChange] = Table()
        self.products = Products()
        self.stages = Stages()
        self.people = People()
        self.totals = Totals()
        self.settings = Settings()
        self.sequences = Sequences()


Work = InMemoryUnitOfWork[SalesRepos]


@pytest.fixture
def work() -> Work:
    repos = SalesRepos()
    repos.customers.table.add(CustomerCopy(id="cust-1", name="Acme", owner_id="rep-1",
                                           owner_team_id="team-1", status="active",
                                           merged_into_id=None))
    repos.products.table.add(Product(id="prod-1", name="Widget", unit="pc", currency="CNY",
                                     list_price=Decimal("100.00"), tax_rate=Decimal("0.13"),
                                     is_active=True))
    for n, name in enumerate(("new", "proposal"), start=1):
        repos.stages.table.add(PipelineStage(id=f"stage-{n}", name=name, position=n,
                                             probability=Decimal(n * 10), is_active=True))
    repos.people.table.add(Staff(id="rep-1", team_id="team-1", is_active=True))
    repos.people.managers["rep-1"] = "boss-1"
    return InMemoryUnitOfWork(repos, service="sales", actor="rep-1")


def allow(*_: Any) -> dict[str, Any]:
    return {"allowed": True}


def refuse(*_: Any) -> dict[str, Any]:
    return {"allowed": False, "reason": "over_limit", "limit": "10.00", "currency": "CNY"}


# -- helpers -----------------------------------------------------------------------------
def lines(discount: str = "0", quantity: str = "2") -> list[dict[str, Any]]:
    return [{"product_id": "prod-1", "quantity": quantity, "discount_percent": discount}]


def new_quote(work: Work, discount: str = "0", opportunity_id: str | None = None
              ) -> dict[str, Any]:
    return orders.create_quote(work, REP, schemas.QuoteIn.model_validate(
        {"customer_id": "cust-1", "lines": lines(discount),
         "opportunity_id": opportunity_id}), None)


def new_order(work: Work, discount: str = "0", customer_id: str = "cust-1"
              ) -> dict[str, Any]:
    return orders.create_order(work, REP, schemas.OrderIn.model_validate(
        {"customer_id": customer_id, "lines": lines(discount)}), None)


def new_opportunity(work: Work) -> dict[str, Any]:
    return pipeline.create_opportunity(work, REP, schemas.OpportunityIn.model_validate(
        {"name": "Big deal", "customer_id": "cust-1", "amount": "5000.00"}), None)


# -- quotes ------------------------------------------------------------------------------
def test_a_quote_is_priced_from_the_list_and_numbered(work: Work) -> None:
    q = new_quote(work)
    assert q["number"] == f"QT-{YEAR}-000001" and q["status"] == "draft"
    assert Decimal(q["amount"]) == Decimal("200.00") and q["owner_id"] == "rep-1"


def test_a_new_quote_supersedes_the_live_one_of_the_same_opportunity(work: Work) -> None:
    first = new_quote(work, opportunity_id="opp-1")
    other = new_quote(work, opportunity_id="opp-2")
    new_quote(work, opportunity_id="opp-1")
    quotes = work.repos.quotes.rows
    assert quotes[first["id"]].status == "superseded" and quotes[first["id"]].version == 2
    assert quotes[other["id"]].status == "draft"


def test_a_quote_within_the_threshold_is_approved_on_submit(work: Work) -> None:
    q = orders.submit_quote(work, REP, new_quote(work, discount="5")["id"])
    assert q["status"] == "approved" and q["version"] == 2
    assert work.events_of("quote.approved")[0]["decided_by"] is None


def test_a_quote_above_the_threshold_waits_for_the_owners_manager(work: Work) -> None:
    q = orders.submit_quote(work, REP, new_quote(work, discount="25")["id"])
    assert q["status"] == "pending_approval"
    assert work.events_of("quote.submitted")[0]["approver_id"] == "boss-1"


def test_the_threshold_is_a_setting(work: Work) -> None:
    work.repos.settings.values["sales"] = {"quote_discount_approval_percent": "30"}
    assert orders.submit_quote(work, REP, new_quote(work, "25")["id"])["status"] == "approved"
    assert DEFAULTS["quote_discount_approval_percent"] == "10"


def test_a_rep_cannot_decide_a_quote(work: Work) -> None:
    q = orders.submit_quote(work, REP, new_quote(work, discount="25")["id"])
    with pytest.raises(Forbidden) as refused:
        orders.decide_quote(work, REP, q["id"], True, None)
    assert refused.value.code == "permission_denied"


def test_the_manager_rejects_a_quote_with_a_comment(work: Work) -> None:
    q = orders.submit_quote(work, REP, new_quote(work, discount="25")["id"])
    out = orders.decide_quote(work, MANAGER, q["id"], False, "too cheap")
    assert out["status"] == "rejected"
    assert work.events_of("quote.rejected")[0]["comment"] == "too cheap"


def test_an_approved_quote_converts_into_an_order_with_its_lines(work: Work) -> None:
    q = orders.submit_quote(work, REP, new_quote(work)["id"])
    order = orders.convert_quote(work, REP, q["id"], schemas.QuoteConvert(), None)
    assert order["quote_id"] == q["id"] and order["amount"] == q["amount"]
    assert order["number"] == f"SO-{YEAR}-000001"
    assert work.repos.quotes.rows[q["id"]].status == "converted"
    assert work.events_of("order.created")[0]["id"] == order["id"]


def test_converting_a_draft_quote_is_the_one_refused_transition(work: Work) -> None:
    q = new_quote(work)
    with pytest.raises(StateViolation) as refused:
        orders.convert_quote(work, REP, q["id"], schemas.QuoteConvert(), None)
    assert refused.value.code == "invalid_transition"
    assert refused.value.extra["allowed_from"] == ["approved"]
    assert len(work.repos.orders) == 0


# -- orders ------------------------------------------------------------------------------
def test_an_order_for_an_archived_customer_is_refused(work: Work) -> None:
    work.repos.customers.table.rows["cust-1"].status = "archived"
    with pytest.raises(ValidationFailed) as refused:
        new_order(work)
    assert refused.value.code == "customer_archived"


def test_an_order_for_a_customer_out_of_scope_is_not_found(work: Work) -> None:
    work.repos.customers.table.add(CustomerCopy(id="cust-2", name="Other", owner_id="rep-9",
                                                status="active", merged_into_id=None))
    with pytest.raises(NotFound) as missing:
        new_order(work, customer_id="cust-2")
    assert missing.value.code == "customer_not_found"


def test_an_order_for_a_merged_customer_goes_to_the_survivor(work: Work) -> None:
    work.repos.customers.table.add(CustomerCopy(id="cust-0", name="Acme (dup)",
                                                owner_id="rep-1", status="merged",
                                                merged_into_id="cust-1"))
    assert new_order(work, customer_id="cust-0")["customer_id"] == "cust-1"


def test_confirming_an_order_publishes_it_for_billing(work: Work) -> None:
    o = new_order(work)
    out = orders.confirm_order(work, REP, o["id"], allow)
    assert out["status"] == "confirmed" and out["version"] == 2
    confirmed = work.events_of("order.confirmed")[0]
    assert confirmed["customer_name"] == "Acme" and confirmed["order_id"] == o["id"]


def test_an_order_over_the_credit_limit_keeps_the_refused_check(work: Work) -> None:
    o = new_order(work)
    commits = work.commits
    with pytest.raises(Conflict) as refused:
        orders.confirm_order(work, REP, o["id"], refuse)
    assert refused.value.code == "credit_limit_exceeded"
    stored = work.repos.orders.rows[o["id"]]
    assert stored.status == "draft" and stored.last_credit_check["allowed"] is False
    assert work.commits == commits + 1 and "order.confirmed" not in work.event_types()


def test_a_discount_above_the_threshold_cannot_be_confirmed_directly(work: Work) -> None:
    o = new_order(work, discount="30")
    with pytest.raises(Conflict) as refused:
        orders.confirm_order(work, REP, o["id"], allow)
    assert refused.value.code == "discount_approval_required"


def test_updating_an_order_with_a_stale_version_is_refused(work: Work) -> None:
    o = new_order(work)
    with pytest.raises(StaleVersion):
        orders.update_order(work, REP, o["id"], schemas.OrderUpdate(signer="X"), 5)
    out = orders.update_order(work, REP, o["id"], schemas.OrderUpdate(signer="X"), 1)
    assert out["signer"] == "X" and out["version"] == 2


def test_cancelling_needs_a_reason_and_says_whether_it_was_confirmed(work: Work) -> None:
    draft = new_order(work)
    with pytest.raises(ValidationFailed) as refused:
        orders.cancel_order(work, REP, draft["id"], "  ")
    assert refused.value.code == "reason_required"
    o = new_order(work)
    orders.confirm_order(work, REP, o["id"], allow)
    orders.cancel_order(work, REP, o["id"], "customer withdrew")
    assert work.events_of("order.cancelled")[0]["was_confirmed"] is True


def test_a_delivery_that_completes_the_order(work: Work) -> None:
    o = new_order(work)
    orders.confirm_order(work, REP, o["id"], allow)
    orders.record_delivery(work, REP, o["id"], schemas.DeliveryIn.model_validate(
        {"delivered_on": date(2026, 2, 1).isoformat(), "completes_order": True,
         "lines": [{"product_id": "prod-1", "quantity": "2"}]}))
    assert work.repos.orders.rows[o["id"]].status == "completed"
    assert work.event_types()[-2:] == ["order.delivered", "order.completed"]


def test_a_delivery_of_a_product_not_on_the_order_is_refused(work: Work) -> None:
    o = new_order(work)
    orders.confirm_order(work, REP, o["id"], allow)
    with pytest.raises(ValidationFailed) as refused:
        orders.record_delivery(work, REP, o["id"], schemas.DeliveryIn.model_validate(
            {"delivered_on": "2026-02-01", "lines": [{"product_id": "prod-9",
                                                      "quantity": "1"}]}))
    assert refused.value.code == "not_on_order" and len(work.repos.deliveries) == 0


# -- opportunities and leads -------------------------------------------------------------
def test_a_new_opportunity_starts_at_the_first_stage_and_counts_in_the_pipeline(
        work: Work) -> None:
    o = new_opportunity(work)
    assert o["stage_id"] == "stage-1" and o["stage_name"] == "new"
    ((before, after),) = work.repos.totals.moves
    assert before is None and after is not None and after.amount == Decimal("5000.00")
    assert len(work.repos.stage_changes) == 1


def test_moving_to_the_stage_it_is_at_is_refused(work: Work) -> None:
    o = new_opportunity(work)
    with pytest.raises(Conflict) as refused:
        pipeline.move_opportunity(work, REP, o["id"], "stage", "stage-1")
    assert refused.value.code == "same_stage"


def test_winning_an_opportunity_closes_it_and_publishes(work: Work) -> None:
    o = new_opportunity(work)
    out = pipeline.move_opportunity(work, REP, o["id"], "win")
    assert out["status"] == "won" and out["version"] == 2
    assert work.events_of("opportunity.won")[0]["id"] == o["id"]
    assert work.repos.opportunities.rows[o["id"]].closed_at is not None


def test_a_won_opportunity_cannot_be_edited(work: Work) -> None:
    o = new_opportunity(work)
    pipeline.move_opportunity(work, REP, o["id"], "win")
    with pytest.raises(StateViolation) as refused:
        pipeline.update_opportunity(work, REP, o["id"], schemas.OpportunityUpdate(
            name="Bigger"), None)
    assert refused.value.code == "invalid_transition"


def test_a_lead_takes_its_owners_team_and_is_published(work: Work) -> None:
    lead = pipeline.create_lead(work, REP, schemas.LeadIn(name="Prospect Ltd"))
    stored = work.repos.leads.rows[lead["id"]]
    assert stored.owner_team_id == "team-1" and lead["status"] == "new"
    assert work.events_of("lead.created")[0]["owner_id"] == "rep-1"


def test_a_rep_cannot_create_a_lead_for_someone_else(work: Work) -> None:
    with pytest.raises(Forbidden) as refused:
        pipeline.create_lead(work, REP, schemas.LeadIn(name="X", owner_id="rep-9"))
    assert refused.value.code == "owner_out_of_scope"
