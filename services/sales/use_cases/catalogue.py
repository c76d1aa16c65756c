"""Products (SAL-05) and campaigns (SAL-04) with their cost from billing's approved
expenses and the revenue their leads won."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from crm_platform.auth import Caller
from crm_platform.db import utcnow
from crm_platform.errors import Conflict, NotFound, check_version
from crm_platform.money import ZERO, rounded
from crm_platform.pagination import PageQuery, keyset_page
from crm_platform.uow import UnitOfWork
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from services.sales import schemas
from services.sales.db.models import (
    Campaign,
    CampaignCost,
    Lead,
    Opportunity,
    Product,
    ProductCategory,
    ProductLine,
)
from services.sales.domain import analytics
from services.sales.use_cases.common import amount


def _dump(model: type[Any], row: Any) -> dict[str, Any]:
    return model.model_validate(row, from_attributes=True).model_dump(mode="json")


def _add(uow: UnitOfWork, row: Any, duplicate: str) -> None:
    uow.session.add(row)
    try:
        uow.session.flush()
    except IntegrityError:
        raise Conflict(duplicate, code="duplicate") from None


def _get(uow: UnitOfWork, model: Any, row_id: str, what: str) -> Any:
    row = uow.session.get(model, row_id, with_for_update=True)
    if row is None:
        raise NotFound(f"{what} not found", code=f"{what.replace(' ', '_')}_not_found")
    return row


def _apply(row: Any, changes: dict[str, Any], expected_version: int | None, what: str) -> None:
    check_version(row.version, expected_version, what)
    for name, value in changes.items():
        setattr(row, name, value)
    row.version += 1


# -- product categories and lines ------------------------------------------------------------
def create_product_category(uow: UnitOfWork, data: schemas.ProductCategoryIn) -> dict[str, Any]:
    if data.parent_id:
        _get(uow, ProductCategory, data.parent_id, "product category")
    row = ProductCategory(id=str(uuid.uuid4()), name=data.name, parent_id=data.parent_id,
                          version=1)
    _add(uow, row, "a product category with that name exists")
    uow.commit()
    return _dump(schemas.ProductCategory, row)


def list_product_categories(uow: UnitOfWork, page: PageQuery) -> dict[str, Any]:
    rows, cursor = keyset_page(uow.session, select(ProductCategory), page.limit, page.cursor,
                               (ProductCategory.name, ProductCategory.id))
    return {"items": [_dump(schemas.ProductCategory, r) for r in rows], "next_cursor": cursor}


def create_product_line(uow: UnitOfWork, data: schemas.ProductLineIn) -> dict[str, Any]:
    if data.category_id:
        _get(uow, ProductCategory, data.category_id, "product category")
    row = ProductLine(id=str(uuid.uuid4()), name=data.name, category_id=data.category_id,
                      version=1)
    _add(uow, row, "a product line with that name exists")
    uow.commit()
    return _dump(schemas.ProductLine, row)


def list_product_lines(uow: UnitOfWork, page: PageQuery) -> dict[str, Any]:
    rows, cursor = keyset_page(uow.session, select(ProductLine), page.limit, page.cursor,
                               (ProductLine.name, ProductLine.id))
    return {"items": [_dump(schemas.ProductLine, r) for r in rows], "next_cursor": cursor}


# -- products ----------------------------------------------------------------------------------
def _check_refs(uow: UnitOfWork, category_id: str | None, line_id: str | None) -> None:
    if category_id:
        _get(uow, ProductCategory, category_id, "product category")
    if line_id:
        _get(uow, ProductLine, line_id, "product line")


def create_product(uow: UnitOfWork, data: schemas.ProductIn) -> dict[str, Any]:
    _check_refs(uow, data.category_id, data.line_id)
    fields = data.model_dump(mode="json")
    fields["list_price"] = amount(data.list_price, data.currency, "list_price")
    fields["tax_rate"] = data.tax_rate
    row = Product(id=str(uuid.uuid4()), is_active=True, created_at=utcnow(), version=1,
                  **fields)
    _add(uow, row, "that product code and version exist")
    uow.commit()
    return _dump(schemas.Product, row)


def get_product(uow: UnitOfWork, product_id: str) -> dict[str, Any]:
    row = uow.session.get(Product, product_id)
    if row is None:
        raise NotFound("product not found", code="product_not_found")
    return _dump(schemas.Product, row)


def list_products(uow: UnitOfWork, q: schemas.ProductQuery) -> dict[str, Any]:
    query = select(Product)
    if not q.include_inactive:
        query = query.where(Product.is_active.is_(True))
    for name in ("code", "category_id", "line_id"):
        if getattr(q, name):
            query = query.where(getattr(Product, name) == getattr(q, name))
    rows, nxt = keyset_page(uow.session, query, q.limit, q.cursor,
                            (Product.created_at, Product.id), descending=True)
    return {"items": [_dump(schemas.Product, r) for r in rows], "next_cursor": nxt}


def update_product(uow: UnitOfWork, product_id: str, data: schemas.ProductUpdate,
                   expected_version: int | None) -> dict[str, Any]:
    """Price and tax changes apply to new quotes and orders; existing documents keep the
    figures their lines were priced with."""
    row = _get(uow, Product, product_id, "product")
    changes = data.model_dump(mode="json", exclude_unset=True)
    _check_refs(uow, changes.get("category_id"), changes.get("line_id"))
    if data.list_price is not None:
        changes["list_price"] = amount(data.list_price, row.currency, "list_price")
    if data.tax_rate is not None:
        changes["tax_rate"] = data.tax_rate
    _apply(row, changes, expected_version, "product")
    uow.commit()
    return _dump(schemas.Product, row)


# -- campaigns ---------------------------------------------------------------------------------
def create_campaign(uow: UnitOfWork, caller: Caller, data: schemas.CampaignIn) -> dict[str, Any]:
    fields = data.model_dump(mode="json")
    fields["budget"] = amount(data.budget, data.currency, "budget")
    fields["start_date"], fields["end_date"] = data.start_date, data.end_date
    row = Campaign(id=str(uuid.uuid4()), owner_id=caller.user_id, actual_cost=ZERO,
                   created_at=utcnow(), version=1, **fields)
    _add(uow, row, "duplicate campaign")
    uow.commit()
    return _dump(schemas.Campaign, row)


def get_campaign(uow: UnitOfWork, campaign_id: str) -> dict[str, Any]:
    row = uow.session.get(Campaign, campaign_id)
    if row is None:
        raise NotFound("campaign not found", code="campaign_not_found")
    return _dump(schemas.Campaign, row)


def list_campaigns(uow: UnitOfWork, q: PageQuery) -> dict[str, Any]:
    rows, nxt = keyset_page(uow.session, select(Campaign), q.limit, q.cursor,
                            (Campaign.created_at, Campaign.id), descending=True)
    return {"items": [_dump(schemas.Campaign, r) for r in rows], "next_cursor": nxt}


def update_campaign(uow: UnitOfWork, campaign_id: str, data: schemas.CampaignUpdate,
                    expected_version: int | None) -> dict[str, Any]:
    row = _get(uow, Campaign, campaign_id, "campaign")
    changes = data.model_dump(mode="json", exclude_unset=True)
    if data.budget is not None:
        changes["budget"] = amount(data.budget, row.currency, "budget")
    for name in ("start_date", "end_date"):
        if name in changes:
            changes[name] = getattr(data, name)
    _apply(row, changes, expected_version, "campaign")
    uow.commit()
    return _dump(schemas.Campaign, row)


def campaign_roi(uow: UnitOfWork, campaign_id: str) -> dict[str, Any]:
    s = uow.session
    c = s.get(Campaign, campaign_id)
    if c is None:
        raise NotFound("campaign not found", code="campaign_not_found")
    leads = s.scalar(select(func.count()).where(Lead.campaign_id == c.id)) or 0
    converted = s.scalar(select(func.count()).where(Lead.campaign_id == c.id,
                                                    Lead.status == "converted")) or 0
    won, revenue = s.execute(select(func.count(), func.coalesce(func.sum(Opportunity.amount), 0))
                             .where(Opportunity.campaign_id == c.id,
                                    Opportunity.status == "won",
                                    Opportunity.currency == c.currency)).one()
    revenue = Decimal(str(revenue))
    per_lead = str(rounded(c.actual_cost / leads, c.currency)) if leads else None
    return {"campaign_id": c.id, "currency": c.currency, "budget": str(c.budget),
            "actual_cost": str(c.actual_cost), "leads": int(leads),
            "converted_leads": int(converted), "won_opportunities": int(won),
            "won_revenue": str(rounded(revenue, c.currency)), "cost_per_lead": per_lead,
            "roi": analytics.roi(revenue, c.actual_cost)}


def on_expense_approved(uow: UnitOfWork, data: dict[str, Any]) -> None:
    """Billing approved an expense: if it belongs to a campaign, it is campaign cost."""
    campaign_id = data.get("campaign_id")
    if not campaign_id:
        return
    s = uow.session
    c = s.get(Campaign, campaign_id, with_for_update=True)
    if c is None or data.get("currency", c.currency) != c.currency:
        return
    if s.get(CampaignCost, data["expense_id"]) is not None:
        return
    cost = Decimal(str(data["amount"]))
    s.add(CampaignCost(expense_id=data["expense_id"], campaign_id=c.id, amount=cost,
                       currency=c.currency))
    c.actual_cost += cost
    c.version += 1
