"""nameko entrypoints of the sales service: thin adapters onto ``use_cases``."""

from __future__ import annotations

from typing import Any

from crm_platform.events import CloudEvent
from crm_platform.pagination import PageQuery
from crm_platform.service import CrmService, UnitOfWorkProvider, event_handler, rpc
from crm_platform.service.calls import call
from crm_platform.service.copies import CustomerCopies, StaffCopies
from crm_platform.uow import UnitOfWork
from nameko.rpc import RpcProxy

from gateway.events import UserDeactivated
from services.billing.events import (
    ExpenseApproved,
    PaymentAllocated,
    PaymentReceived,
    PaymentRefunded,
)
from services.customer.events import CustomerErased, CustomerMerged, CustomerSnapshot
from services.notify.events import InboundLeadReceived
from services.sales import schemas
from services.sales.db import erasure
from services.sales.db.models import Base, CustomerCopy, Staff, Team
from services.sales.db.repositories import sales_work
from services.sales.use_cases import (
    agenda,
    catalogue,
    common,
    handover,
    orders,
    pipeline,
    planning,
)

# Subscriptions (one place): customer customer.created / updated / owner_changed /
# archived / merged / erased (CustomerCopies); gateway user.created / updated / deactivated,
# team.created / updated (StaffCopies); billing payment.received / payment.allocated /
# payment.refunded (order paid status), expense.approved (campaign cost); notify
# inbound_lead.received (lead capture). Synchronous calls: customer.create_customer /
# create_contact (lead conversion) and get_customer_snapshot (a customer not copied here
# yet, CustomerCopies.fetch_customer), billing.check_credit (order confirmation).

CUSTOMER_TIMEOUT = 10.0


class SalesService(CrmService, StaffCopies, CustomerCopies):
    name = "sales"
    uow = UnitOfWorkProvider(Base.metadata)
    staff_copy, team_copy, customer_copy = Staff, Team, CustomerCopy
    customer_rpc_timeout = CUSTOMER_TIMEOUT
    billing_rpc = RpcProxy("billing")

    # -- calls to other services ------------------------------------------------------------
    def _create_customer(self, data: dict[str, Any]) -> dict[str, Any]:
        return dict(call(self.customer_rpc, "create_customer", timeout=CUSTOMER_TIMEOUT,
                         data=data))

    def _create_contact(self, customer_id: str, data: dict[str, Any], contact_id: str
                        ) -> dict[str, Any]:
        return dict(call(self.customer_rpc, "create_contact", timeout=CUSTOMER_TIMEOUT,
                         customer_id=customer_id, data=data, contact_id=contact_id))

    def _credit_checker(self, uow: UnitOfWork) -> orders.CheckCredit:
        timeout = float(common.settings(sales_work(uow))["credit_check_timeout_seconds"])

        def check(customer_id: str, amount: str, currency: str, order_id: str,
                  override: bool) -> dict[str, Any]:
            return dict(call(self.billing_rpc, "check_credit", timeout=timeout,
                             customer_id=customer_id, amount=amount, currency=currency,
                             order_id=order_id, override=override))
        return check

    # -- leads ------------------------------------------------------------------------------
    @rpc
    def create_lead(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return pipeline.create_lead(sales_work(uow), self.caller,
                                        schemas.LeadIn.model_validate(data))

    @rpc
    def get_lead(self, lead_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return pipeline.get_lead(sales_work(uow), self.caller, lead_id)

    @rpc
    def list_leads(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return pipeline.list_leads(uow, self.caller,
                                       schemas.LeadQuery.model_validate(query or {}))

    @rpc
    def update_lead(self, lead_id: str, data: dict[str, Any],
                    expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return pipeline.update_lead(sales_work(uow), self.caller, lead_id,
                                        schemas.LeadUpdate.model_validate(data),
                                        expected_version)

    @rpc
    def assign_lead(self, lead_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return pipeline.assign_lead(sales_work(uow), self.caller, lead_id,
                                        schemas.LeadAssign.model_validate(data))

    @rpc
    def contact_lead(self, lead_id: str) -> dict[str, Any]:
        with self.uow() as uow:
            return pipeline.move_lead(sales_work(uow), self.caller, lead_id, "contact")

    @rpc
    def qualify_lead(self, lead_id: str) -> dict[str, Any]:
        with self.uow() as uow:
            return pipeline.move_lead(sales_work(uow), self.caller, lead_id, "qualify")

    @rpc
    def disqualify_lead(self, lead_id: str, data: dict[str, Any]) -> dict[str, Any]:
        reason = schemas.Reason.model_validate(data).reason
        with self.uow() as uow:
            return pipeline.move_lead(sales_work(uow), self.caller, lead_id, "disqualify", reason)

    @rpc
    def convert_lead(self, lead_id: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return pipeline.convert_lead(sales_work(uow), self.caller, lead_id,
                                         schemas.LeadConvert.model_validate(data or {}),
                                         self._create_customer, self._create_contact,
                                         self.fetch_customer)

    # -- pipeline and opportunities -----------------------------------------------------------
    @rpc
    def list_pipeline_stages(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return pipeline.list_stages(uow, PageQuery.model_validate(query or {}))

    @rpc
    def create_pipeline_stage(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return pipeline.create_stage(uow, schemas.StageIn.model_validate(data))

    @rpc
    def update_pipeline_stage(self, stage_id: str, data: dict[str, Any],
                              expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return pipeline.update_stage(uow, stage_id, schemas.StageUpdate.model_validate(data),
                                         expected_version)

    @rpc
    def create_opportunity(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return pipeline.create_opportunity(sales_work(uow), self.caller,
                                               schemas.OpportunityIn.model_validate(data),
                                               self.fetch_customer)

    @rpc
    def get_opportunity(self, opportunity_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return pipeline.get_opportunity(sales_work(uow), self.caller, opportunity_id)

    @rpc
    def list_opportunities(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return pipeline.list_opportunities(
                uow, self.caller, schemas.OpportunityQuery.model_validate(query or {}))

    @rpc
    def update_opportunity(self, opportunity_id: str, data: dict[str, Any],
                           expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return pipeline.update_opportunity(sales_work(uow), self.caller, opportunity_id,
                                               schemas.OpportunityUpdate.model_validate(data),
                                               expected_version)

    @rpc
    def move_opportunity_stage(self, opportunity_id: str, data: dict[str, Any]
                               ) -> dict[str, Any]:
        stage_id = schemas.StageMove.model_validate(data).stage_id
        with self.uow() as uow:
            return pipeline.move_opportunity(sales_work(uow), self.caller, opportunity_id, "stage",
                                             stage_id=stage_id)

    @rpc
    def win_opportunity(self, opportunity_id: str) -> dict[str, Any]:
        with self.uow() as uow:
            return pipeline.move_opportunity(sales_work(uow), self.caller, opportunity_id, "win")

    @rpc
    def lose_opportunity(self, opportunity_id: str, data: dict[str, Any]) -> dict[str, Any]:
        reason = schemas.Reason.model_validate(data).reason
        with self.uow() as uow:
            return pipeline.move_opportunity(sales_work(uow), self.caller, opportunity_id, "lose",
                                             reason=reason)

    @rpc
    def reopen_opportunity(self, opportunity_id: str) -> dict[str, Any]:
        with self.uow() as uow:
            return pipeline.move_opportunity(sales_work(uow), self.caller, opportunity_id, "reopen")

    @rpc
    def get_opportunity_history(self, opportunity_id: str,
                                query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return pipeline.stage_history(uow, self.caller, opportunity_id,
                                          PageQuery.model_validate(query or {}))

    # -- analytics ----------------------------------------------------------------------------
    @rpc
    def get_funnel(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return pipeline.funnel(uow, self.caller,
                                   schemas.AnalyticsQuery.model_validate(query or {}))

    @rpc
    def get_win_loss(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return pipeline.win_loss(uow, self.caller,
                                     schemas.WinLossQuery.model_validate(query or {}))

    @rpc
    def get_forecast(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return pipeline.forecast(uow, self.caller,
                                     schemas.AnalyticsQuery.model_validate(query or {}))

    @rpc
    def rebuild_analytics(self) -> dict[str, Any]:
        with self.uow() as uow:
            return pipeline.rebuild_totals(uow, self.caller)

    # -- campaigns ----------------------------------------------------------------------------
    @rpc
    def create_campaign(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return catalogue.create_campaign(uow, self.caller,
                                             schemas.CampaignIn.model_validate(data))

    @rpc
    def get_campaign(self, campaign_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return catalogue.get_campaign(uow, campaign_id)

    @rpc
    def list_campaigns(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return catalogue.list_campaigns(uow, PageQuery.model_validate(query or {}))

    @rpc
    def update_campaign(self, campaign_id: str, data: dict[str, Any],
                        expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return catalogue.update_campaign(uow, campaign_id,
                                             schemas.CampaignUpdate.model_validate(data),
                                             expected_version)

    @rpc
    def get_campaign_roi(self, campaign_id: str) -> dict[str, Any]:
        with self.uow() as uow:
            return catalogue.campaign_roi(uow, campaign_id)

    # -- products -----------------------------------------------------------------------------
    @rpc
    def create_product_category(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return catalogue.create_product_category(
                uow, schemas.ProductCategoryIn.model_validate(data))

    @rpc
    def list_product_categories(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return catalogue.list_product_categories(uow, PageQuery.model_validate(query or {}))

    @rpc
    def create_product_line(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return catalogue.create_product_line(uow, schemas.ProductLineIn.model_validate(data))

    @rpc
    def list_product_lines(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return catalogue.list_product_lines(uow, PageQuery.model_validate(query or {}))

    @rpc
    def create_product(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return catalogue.create_product(uow, schemas.ProductIn.model_validate(data))

    @rpc
    def get_product(self, product_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return catalogue.get_product(uow, product_id)

    @rpc
    def list_products(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return catalogue.list_products(uow, schemas.ProductQuery.model_validate(query or {}))

    @rpc
    def update_product(self, product_id: str, data: dict[str, Any],
                       expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return catalogue.update_product(uow, product_id,
                                            schemas.ProductUpdate.model_validate(data),
                                            expected_version)

    # -- quotes -------------------------------------------------------------------------------
    @rpc
    def create_quote(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return orders.create_quote(sales_work(uow), self.caller,
                                       schemas.QuoteIn.model_validate(data),
                                       self.fetch_customer)

    @rpc
    def get_quote(self, quote_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return orders.get_quote(sales_work(uow), self.caller, quote_id)

    @rpc
    def list_quotes(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return orders.list_quotes(uow, self.caller,
                                      schemas.QuoteQuery.model_validate(query or {}))

    @rpc
    def list_customer_quotes(self, customer_id: str, query: dict[str, Any] | None = None
                             ) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return orders.list_quotes(uow, self.caller, schemas.QuoteQuery.model_validate(
                {**PageQuery.model_validate(query or {}).model_dump(),
                 "customer_id": customer_id}))

    @rpc
    def update_quote(self, quote_id: str, data: dict[str, Any],
                     expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return orders.update_quote(sales_work(uow), self.caller, quote_id,
                                       schemas.QuoteUpdate.model_validate(data),
                                       expected_version)

    @rpc
    def submit_quote(self, quote_id: str) -> dict[str, Any]:
        with self.uow() as uow:
            return orders.submit_quote(sales_work(uow), self.caller, quote_id)

    @rpc
    def approve_quote(self, quote_id: str, data: dict[str, Any] | None = None
                      ) -> dict[str, Any]:
        comment = schemas.Comment.model_validate(data or {}).comment
        with self.uow() as uow:
            return orders.decide_quote(sales_work(uow), self.caller, quote_id, True, comment)

    @rpc
    def reject_quote(self, quote_id: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        comment = schemas.Comment.model_validate(data or {}).comment
        with self.uow() as uow:
            return orders.decide_quote(sales_work(uow), self.caller, quote_id, False, comment)

    @rpc
    def convert_quote(self, quote_id: str, data: dict[str, Any] | None = None
                      ) -> dict[str, Any]:
        with self.uow() as uow:
            return orders.convert_quote(sales_work(uow), self.caller, quote_id,
                                        schemas.QuoteConvert.model_validate(data or {}),
                                        self.fetch_customer)

    # -- orders -------------------------------------------------------------------------------
    @rpc
    def create_order(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return orders.create_order(sales_work(uow), self.caller,
                                       schemas.OrderIn.model_validate(data),
                                       self.fetch_customer)

    @rpc
    def get_order(self, order_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return orders.get_order(sales_work(uow), self.caller, order_id)

    @rpc
    def list_orders(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return orders.list_orders(uow, self.caller,
                                      schemas.OrderQuery.model_validate(query or {}))

    @rpc
    def update_order(self, order_id: str, data: dict[str, Any],
                     expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return orders.update_order(sales_work(uow), self.caller, order_id,
                                       schemas.OrderUpdate.model_validate(data),
                                       expected_version)

    @rpc
    def submit_order(self, order_id: str) -> dict[str, Any]:
        with self.uow() as uow:
            return orders.submit_order(sales_work(uow), self.caller, order_id)

    @rpc
    def confirm_order(self, order_id: str) -> dict[str, Any]:
        with self.uow() as uow:
            return orders.confirm_order(sales_work(uow), self.caller, order_id,
                                        self._credit_checker(uow))

    @rpc
    def approve_order(self, order_id: str, data: dict[str, Any] | None = None
                      ) -> dict[str, Any]:
        with self.uow() as uow:
            return orders.approve_order(sales_work(uow), self.caller, order_id,
                                        schemas.OrderApprove.model_validate(data or {}),
                                        self._credit_checker(uow))

    @rpc
    def cancel_order(self, order_id: str, data: dict[str, Any]) -> dict[str, Any]:
        reason = schemas.Reason.model_validate(data).reason
        with self.uow() as uow:
            return orders.cancel_order(sales_work(uow), self.caller, order_id, reason)

    @rpc
    def complete_order(self, order_id: str) -> dict[str, Any]:
        with self.uow() as uow:
            return orders.complete_order(sales_work(uow), self.caller, order_id)

    @rpc
    def record_delivery(self, order_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return orders.record_delivery(sales_work(uow), self.caller, order_id,
                                          schemas.DeliveryIn.model_validate(data))

    @rpc
    def list_deliveries(self, order_id: str, query: dict[str, Any] | None = None
                        ) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return orders.list_deliveries(uow, self.caller, order_id,
                                          PageQuery.model_validate(query or {}))

    @rpc
    def customer_sales_summary(self, customer_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return orders.customer_summary(uow, self.caller, customer_id)

    @rpc
    def get_sales_settings(self) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return orders.get_settings(sales_work(uow))

    @rpc
    def put_sales_settings(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return orders.put_settings(uow, self.caller,
                                       schemas.SalesSettings.model_validate(data))

    @rpc
    def my_agenda(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return agenda.my_agenda(uow, self.caller, query)

    # -- targets and work logs ------------------------------------------------------------------
    @rpc
    def create_sales_target(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return planning.create_target(uow, self.caller, schemas.TargetIn.model_validate(data))

    @rpc
    def list_sales_targets(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return planning.list_targets(uow, self.caller,
                                         schemas.TargetQuery.model_validate(query or {}))

    @rpc
    def update_sales_target(self, target_id: str, data: dict[str, Any],
                            expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return planning.update_target(uow, self.caller, target_id,
                                          schemas.TargetUpdate.model_validate(data),
                                          expected_version)

    @rpc
    def create_work_log(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return planning.create_work_log(uow, self.caller,
                                            schemas.WorkLogIn.model_validate(data))

    @rpc
    def list_work_logs(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return planning.list_work_logs(uow, self.caller,
                                           schemas.WorkLogQuery.model_validate(query or {}))

    @rpc
    def update_work_log(self, log_id: str, data: dict[str, Any],
                        expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return planning.update_work_log(uow, self.caller, log_id,
                                            schemas.WorkLogUpdate.model_validate(data),
                                            expected_version)

    # -- events from other services -------------------------------------------------------------
    def customer_owner_changed(self, uow: UnitOfWork, customer: CustomerSnapshot) -> None:
        common.follow_owner(uow, customer)

    @event_handler("notify", "inbound_lead.received")
    def on_inbound_lead_received(self, event: CloudEvent, uow: UnitOfWork) -> None:
        """A signed lead from a capture source (a web form): created as any lead is,
        for the source's owner, exactly once (the inbox)."""
        pipeline.create_inbound_lead(sales_work(uow), event.payload(InboundLeadReceived))

    def customer_merged(self, uow: UnitOfWork, merged: CustomerMerged) -> None:
        common.move_to_survivor(uow, merged)

    def customer_erased(self, uow: UnitOfWork, customer: CustomerErased,
                        values: list[str]) -> list[str]:
        found = erasure.erase_leads(uow.session, customer.id)
        erasure.scrub_deals(uow.session, customer.id, [*values, *found])
        return found

    @event_handler("billing", "payment.received")
    def on_payment_received(self, event: CloudEvent, uow: UnitOfWork) -> None:
        orders.on_payment(uow, event.id, event.payload(PaymentReceived).allocations, +1)

    @event_handler("billing", "payment.allocated")
    def on_payment_allocated(self, event: CloudEvent, uow: UnitOfWork) -> None:
        orders.on_payment(uow, event.id, event.payload(PaymentAllocated).allocations, +1)

    @event_handler("billing", "payment.refunded")
    def on_payment_refunded(self, event: CloudEvent, uow: UnitOfWork) -> None:
        orders.on_payment(uow, event.id, event.payload(PaymentRefunded).allocations, -1)

    @event_handler("billing", "expense.approved")
    def on_expense_approved(self, event: CloudEvent, uow: UnitOfWork) -> None:
        catalogue.on_expense_approved(uow, event.payload(ExpenseApproved))

    def hand_over(self, uow: UnitOfWork, deactivated: UserDeactivated) -> None:
        handover.on_user_deactivated(uow, deactivated)
