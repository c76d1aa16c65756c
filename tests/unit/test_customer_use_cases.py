"""The customer service's write use cases (create with the duplicate guard and the
assignment rules, update, archive, claim, release, transfer) against in-memory
repositories: no database, no broker."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pytest
from crm_platform.auth import Caller
from crm_platform.db import column_defaults
from crm_platform.errors import (
    Conflict,
    Forbidden,
    NotFound,
    StaleVersion,
    ValidationFailed,
)
from crm_platform.fakes import InMemoryUnitOfWork, OwnedTable, Sequences, Settings, Table

from services.customer import schemas
from services.customer.db.models import Customer, CustomerCategory, Staff
from services.customer.domain.ownership import AssignmentRule
from services.customer.use_cases import customers as use_cases
from services.customer.use_cases.customers import POOL_DEFAULTS

REP = Caller(user_id="rep-1", roles=["sales_rep"], scope="own")
OTHER_REP = Caller(user_id="rep-2", roles=["sales_rep"], scope="own")
MANAGER = Caller(user_id="boss-1", roles=["sales_manager"], scope="team",
                 member_ids=["rep-1", "rep-2"])


# -- in-memory repositories (the protocols of services/customer/repositories.py) ---------
class Customers(OwnedTable[Customer]):
    def __init__(self) -> None:
        super().__init__("customer")
        self.account_team: set[tuple[str, str]] = set()

    def visible(self, caller: Caller, customer_id: str, *, lock: bool = False,
                include_archived: bool = True) -> Customer:
        # the rule of CUS-08: in the caller's scope, in the pool, or on its account team
        found = self.rows.get(customer_id)
        seen = found is not None and (
            found.owner_id is None or caller.can_see_owner(found.owner_id)
            or (customer_id, caller.user_id) in self.account_team)
        if found is None or not seen or (not include_archived and found.status != "active"):
            raise NotFound("customer not found", code="customer_not_found")
        return found

    def get(self, customer_id: str, *, lock: bool = False) -> Customer | None:
        return self.rows.get(customer_id)

    def insert(self, customer: Customer) -> None:
        # as the SQL insert does: columns left out take their Python-side defaults
        given = frozenset(k for k in customer.__dict__ if not k.startswith("_"))
        for name, default in column_defaults(Customer.__table__, given).items():
            setattr(customer, name, default())
        self.add(customer)

    def owned_count(self, user_id: str) -> int:
        return len(self.where(owner_id=user_id, status="active"))

    def on_account_team(self, customer_id: str, user_id: str) -> bool:
        return (customer_id, user_id) in self.account_team


class IdentityKeys:
    def __init__(self) -> None:
        self.held: dict[str, str] = {}

    def claim(self, customer_id: str, keys: set[str]) -> set[str]:
        taken = {k for k in keys if k not in self.held}
        self.held.update(dict.fromkeys(taken, customer_id))
        return taken

    def holders(self, keys: Iterable[str], exclude_customer: str | None = None
                ) -> dict[str, str]:
        return {k: self.held[k] for k in keys
                if k in self.held and self.held[k] != exclude_customer}

    def release(self, customer_id: str) -> None:
        self.held = {k: c for k, c in self.held.items() if c != customer_id}


class History:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def add(self, customer_id: str, actor_id: str | None, kind: str,
            changes: dict[str, Any], reason: str | None) -> None:
        self.entries.append({"customer_id": customer_id, "actor_id": actor_id, "kind": kind,
                             "changes": changes, "reason": reason})


class Contacts:
    def __init__(self) -> None:
        self.names: dict[str, list[str]] = {}

    def names_of(self, customer_id: str) -> list[str]:
        return self.names.get(customer_id, [])


class Categories:
    def __init__(self) -> None:
        self.table: Table[CustomerCategory] = Table()

    def active(self, ids: set[str]) -> set[str]:
        return {c.id for c in self.table if c.id in ids and c.retired_at is None}


class People:
    def __init__(self) -> None:
        self.table: Table[Staff] = Table()

    def get(self, user_id: str, *, lock: bool = False) -> Staff | None:
        return self.table.get(user_id)

    def team_and_name(self, user_id: str) -> tuple[str | None, str | None] | None:
        st = self.table.get(user_id)
        return None if st is None else (st.team_id, st.display_name)

    def name(self, user_id: str | None) -> str | None:
        st = self.table.get(user_id) if user_id else None
        return st.display_name if st else None

    def team_of(self, user_id: str | None) -> str | None:
        st = self.table.get(user_id) if user_id else None
        return st.team_id if st else None

    def assignable(self) -> list[Staff]:
        return self.table.where(is_active=True)

    def mark_assigned(self, user_id: str, at: datetime) -> None:
        self.table.rows[user_id].last_assigned_at = at


class Rules:
    def __init__(self) -> None:
        self.rules: list[AssignmentRule] = []

    def active(self) -> list[AssignmentRule]:
        return list(self.rules)


class CustomerRepos:
    def __init__(self) -> None:
        self.customers = Customers()
        self.keys = IdentityKeys()
        self.history = History()
        self.contacts = Contacts()
        self.categories = Categories()
        self.people = People()
        self.rules = Rules()
        self.settings = Settings()
        self.sequences = Sequences()


Work = InMemoryUnitOfWork[CustomerRepos]


def staff(user_id: str, name: str, team: str = "team-1", active: bool = True) -> Staff:
    return Staff(id=user_id, display_name=name, team_id=team, is_active=active,
                 is_new_staff=False, roles=["sales_rep"], last_assigned_at=None)


@pytest.fixture
def work() -> Work:
    repos = CustomerRepos()
    for st in (staff("rep-1", "Li Lei"), staff("rep-2", "Han Meimei"),
               staff("boss-1", "Wang"), staff("gone", "Zhao", active=False)):
        repos.people.table.add(st)
    return InMemoryUnitOfWork(repos, service="customer", actor="rep-1")


def create(work: Work, caller: Caller = REP, **fields: Any) -> dict[str, Any]:
    body = {"name": "Acme Trading", "kind": "company", **fields}
    return use_cases.create_customer(work, caller, schemas.CustomerCreate.model_validate(body))


# -- create ------------------------------------------------------------------------------
def test_a_created_customer_belongs_to_its_collector_and_is_published(work: Work) -> None:
    c = create(work, phones=["13800138000"])
    assert c["owner"] == {"id": "rep-1", "display_name": "Li Lei"}
    assert c["code"].endswith("0000001") and c["version"] == 1 and c["status"] == "active"
    assert work.event_types() == ["customer.created"]
    assert work.repos.history.entries[0]["kind"] == "created"
    assert work.repos.customers.rows[c["id"]].owner_team_id == "team-1"


def test_the_same_company_twice_is_refused_naming_its_owner(work: Work) -> None:
    first = create(work)
    with pytest.raises(Conflict) as duplicate:
        create(work, caller=OTHER_REP)
    assert duplicate.value.code == "duplicate_customer"
    assert duplicate.value.extra["existing_customer_id"] == first["id"]
    assert duplicate.value.extra["owner"]["display_name"] == "Li Lei"


def test_the_same_phone_under_another_name_is_a_duplicate(work: Work) -> None:
    create(work, phones=["13800138000"])
    with pytest.raises(Conflict) as duplicate:
        create(work, name="Other Name Ltd", phones=["+86 138 0013 8000"])
    assert duplicate.value.extra["matched_on"] == ["phone"]


def test_a_manager_assigns_a_new_customer_to_a_team_member(work: Work) -> None:
    c = create(work, caller=MANAGER, owner_id="rep-2")
    assert c["owner"]["id"] == "rep-2"
    assert work.event_types() == ["customer.created", "customer.owner_changed"]
    assert work.repos.people.table.rows["rep-2"].last_assigned_at is not None


def test_a_rep_cannot_create_a_customer_for_someone_else(work: Work) -> None:
    with pytest.raises(Forbidden) as refused:
        create(work, owner_id="rep-2")
    assert refused.value.code == "owner_out_of_scope"
    assert len(work.repos.customers) == 0


def test_a_region_rule_picks_the_owner(work: Work) -> None:
    work.repos.rules.rules.append(AssignmentRule(
        "region", {"province": "广东", "owner_id": "rep-2"}, 10))
    c = create(work, region={"province": "广东"})
    assert c["owner"]["id"] == "rep-2"
    assert work.repos.history.entries[0]["reason"] == "assignment"


def test_a_retired_category_cannot_be_given(work: Work) -> None:
    work.repos.categories.table.add(CustomerCategory(id="cat-1", retired_at=datetime(2026, 1, 1)))
    with pytest.raises(ValidationFailed) as refused:
        create(work, category_ids=["cat-1"])
    assert refused.value.code == "invalid_category"


# -- update and archive ------------------------------------------------------------------
def test_an_update_bumps_the_version_and_names_what_changed(work: Work) -> None:
    c = create(work)
    out = use_cases.update_customer(work, REP, c["id"], schemas.CustomerUpdate(
        industry="retail"), 1)
    assert out["version"] == 2 and out["industry"] == "retail"
    assert work.events_of("customer.updated")[0]["changed"] == ["industry"]
    assert work.repos.history.entries[-1]["changes"]["industry"]["to"] == "retail"


def test_an_update_that_changes_nothing_publishes_nothing(work: Work) -> None:
    c = create(work, industry="retail")
    out = use_cases.update_customer(work, REP, c["id"], schemas.CustomerUpdate(
        industry="retail"), None)
    assert out["version"] == 1 and work.event_types() == ["customer.created"]


def test_an_update_with_a_stale_version_is_refused(work: Work) -> None:
    c = create(work)
    with pytest.raises(StaleVersion):
        use_cases.update_customer(work, REP, c["id"], schemas.CustomerUpdate(size="big"), 3)


def test_renaming_moves_the_identity_keys(work: Work) -> None:
    c = create(work)
    use_cases.update_customer(work, REP, c["id"], schemas.CustomerUpdate(name="Beta Ltd"),
                              None)
    assert set(work.repos.keys.held.values()) == {c["id"]}
    create(work, caller=OTHER_REP)  # the old name is free again


def test_another_reps_customer_is_not_found(work: Work) -> None:
    c = create(work)
    with pytest.raises(NotFound) as missing:
        use_cases.update_customer(work, OTHER_REP, c["id"], schemas.CustomerUpdate(
            size="big"), None)
    assert missing.value.code == "customer_not_found"


def test_an_account_team_member_may_update(work: Work) -> None:
    c = create(work)
    work.repos.customers.account_team.add((c["id"], "rep-2"))
    out = use_cases.update_customer(work, OTHER_REP, c["id"], schemas.CustomerUpdate(
        size="big"), None)
    assert out["size"] == "big"


def test_archiving_frees_the_keys_and_leaves_the_customer_unwritable(work: Work) -> None:
    c = create(work)
    out = use_cases.archive_customer(work, REP, c["id"], 1)
    assert out["status"] == "archived" and work.repos.keys.held == {}
    assert work.event_types()[-1] == "customer.archived"
    with pytest.raises(NotFound) as missing:  # an archived customer is not writable
        use_cases.archive_customer(work, REP, c["id"], None)
    assert missing.value.code == "customer_not_found"


# -- the pool: claim, release, transfer --------------------------------------------------
def test_releasing_puts_the_customer_in_the_pool(work: Work) -> None:
    c = create(work)
    out = use_cases.release_customer(work, REP, c["id"])
    assert out["owner"] is None and out["in_pool"] is True
    changed = work.events_of("customer.owner_changed")[0]
    assert changed["previous_owner_id"] == "rep-1" and changed["reason"] == "release"
    with pytest.raises(Conflict) as refused:
        use_cases.release_customer(work, REP, c["id"])
    assert refused.value.code == "already_in_pool"


def test_another_rep_claims_a_pool_customer(work: Work) -> None:
    c = create(work)
    use_cases.release_customer(work, REP, c["id"])
    out = use_cases.claim_customer(work, OTHER_REP, c["id"])
    assert out["owner"]["id"] == "rep-2" and out["version"] == 3
    with pytest.raises(Conflict) as refused:
        use_cases.claim_customer(work, REP, c["id"])
    assert refused.value.code == "already_owned"


def test_the_claim_limit_holds(work: Work) -> None:
    work.repos.settings.values["pool"] = {"claim_limit": 1}
    assert POOL_DEFAULTS["claim_limit"] == 200
    a = create(work)
    b = create(work, name="Beta Ltd")
    use_cases.release_customer(work, REP, b["id"])
    with pytest.raises(Conflict) as refused:
        use_cases.claim_customer(work, REP, b["id"])
    assert refused.value.code == "claim_limit_reached" and a["owner"]["id"] == "rep-1"


def test_a_manager_transfers_a_customer_within_the_team(work: Work) -> None:
    c = create(work)
    out = use_cases.transfer_customer(work, MANAGER, c["id"], schemas.TransferRequest(
        to_user_id="rep-2"))
    assert out["owner"]["id"] == "rep-2"
    assert work.events_of("customer.owner_changed")[0]["reason"] == "transfer"


def test_transferring_to_an_inactive_user_is_refused(work: Work) -> None:
    c = create(work)
    with pytest.raises(ValidationFailed) as refused:
        use_cases.transfer_customer(work, MANAGER, c["id"], schemas.TransferRequest(
            to_user_id="gone"))
    assert refused.value.code == "invalid_owner"
