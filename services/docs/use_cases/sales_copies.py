"""The copy of the sales service's orders, products and campaigns that documents link
to (DOC-01): a label and, for an order, its customer. Kept from sales' snapshot events
by :func:`crm_platform.read_models.apply_snapshot` (ordered by version)."""

from __future__ import annotations

from crm_platform.events import CloudEvent
from crm_platform.read_models import apply_snapshot
from crm_platform.service.entrypoints import event_handler
from crm_platform.uow import UnitOfWork

from services.docs.db.models import SalesRecord
from services.sales.events import CampaignSnapshot, OrderCreated, ProductSnapshot


def _product(uow: UnitOfWork, event: CloudEvent) -> None:
    product = event.payload(ProductSnapshot)
    apply_snapshot(uow.session, SalesRecord, product, kind="product",
                   label=f"{product.code} {product.name} {product.product_version}"[:200])


def _campaign(uow: UnitOfWork, event: CloudEvent) -> None:
    campaign = event.payload(CampaignSnapshot)
    apply_snapshot(uow.session, SalesRecord, campaign, kind="campaign",
                   label=campaign.name[:200])


class SalesCopies:
    @event_handler("sales", "product.created")
    def on_product_created(self, event: CloudEvent, uow: UnitOfWork) -> None:
        _product(uow, event)

    @event_handler("sales", "product.updated")
    def on_product_updated(self, event: CloudEvent, uow: UnitOfWork) -> None:
        _product(uow, event)

    @event_handler("sales", "campaign.created")
    def on_campaign_created(self, event: CloudEvent, uow: UnitOfWork) -> None:
        _campaign(uow, event)

    @event_handler("sales", "campaign.updated")
    def on_campaign_updated(self, event: CloudEvent, uow: UnitOfWork) -> None:
        _campaign(uow, event)

    @event_handler("sales", "order.created")
    def on_order_created(self, event: CloudEvent, uow: UnitOfWork) -> None:
        order = event.payload(OrderCreated)
        apply_snapshot(uow.session, SalesRecord, order, kind="order", label=order.number)
