"""nameko entrypoints of the customer service: thin adapters onto ``use_cases``."""

from __future__ import annotations

from typing import Any

import eventlet
from crm_platform.events import CloudEvent
from crm_platform.pagination import PageQuery
from crm_platform.service import CrmService, UnitOfWorkProvider, event_handler, rpc, timer
from crm_platform.service.calls import call
from crm_platform.service.copies import StaffCopies
from crm_platform.uow import UnitOfWork
from nameko.rpc import RpcProxy

from gateway.events import UserDeactivated
from services.billing.events import PaymentAllocated, PaymentReceived, PaymentRefunded
from services.customer import schemas
from services.customer.db.models import Base, Staff, StaffTeam
from services.customer.db.repositories import customer_work
from services.customer.use_cases import (
    activities,
    agenda,
    bulk,
    classification,
    contacts,
    directory,
    erasure,
    membership,
    segments,
)
from services.customer.use_cases import customers as use_cases
from services.sales.events import OrderConfirmed

# Subscriptions (one place): gateway user.created / user.updated / user.deactivated,
# team.created / team.updated (StaffCopies); sales order.confirmed; billing
# payment.received / payment.allocated / payment.refunded (classification, membership
# points). Synchronous calls: the sales service's get_campaign when a points bonus rule
# names a campaign (as the caller, with a timeout).


class CustomerService(CrmService, StaffCopies):
    name = "customer"
    uow = UnitOfWorkProvider(Base.metadata)
    staff_copy, team_copy = Staff, StaffTeam
    sales_rpc = RpcProxy("sales")
    sales_rpc_timeout = 5.0

    def _campaign(self, campaign_id: str) -> dict[str, Any]:
        return dict(call(self.sales_rpc, "get_campaign", timeout=self.sales_rpc_timeout,
                         campaign_id=campaign_id))

    # -- customers ----------------------------------------------------------------------
    @rpc
    def create_customer(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return use_cases.create_customer(customer_work(uow), self.caller,
                                             schemas.CustomerCreate.model_validate(data))

    @rpc
    def get_customer_snapshot(self, customer_id: str) -> dict[str, Any]:
        """The customer as its events carry it, for a service that has not copied it yet
        (``crm_platform.service.copies.CustomerCopies.fetch_customer``)."""
        with self.uow(read_only=True) as uow:
            return use_cases.customer_snapshot(uow, self.caller, customer_id)

    @rpc
    def get_customer(self, customer_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return use_cases.get_customer(uow, self.caller, customer_id)

    @rpc
    def list_customers(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return use_cases.list_customers(
                uow, self.caller, schemas.CustomerQuery.model_validate(query or {}))

    @rpc
    def update_customer(self, customer_id: str, data: dict[str, Any],
                        expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return use_cases.update_customer(customer_work(uow), self.caller, customer_id,
                                             schemas.CustomerUpdate.model_validate(data),
                                             expected_version)

    @rpc
    def archive_customer(self, customer_id: str,
                         expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return use_cases.archive_customer(customer_work(uow), self.caller, customer_id,
                                              expected_version)

    @rpc
    def erase_customer(self, customer_id: str) -> dict[str, Any]:
        with self.uow() as uow:
            return erasure.erase_customer(uow, self.caller, customer_id)

    @rpc
    def get_customer_360(self, customer_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return activities.customer_360(uow, self.caller, customer_id)

    @rpc
    def get_customer_history(self, customer_id: str,
                             query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return use_cases.customer_history(
                uow, self.caller, customer_id, schemas.HistoryQuery.model_validate(query or {}))

    # -- ownership ----------------------------------------------------------------------
    @rpc
    def claim_customer(self, customer_id: str) -> dict[str, Any]:
        with self.uow() as uow:
            return use_cases.claim_customer(customer_work(uow), self.caller, customer_id)

    @rpc
    def release_customer(self, customer_id: str) -> dict[str, Any]:
        with self.uow() as uow:
            return use_cases.release_customer(customer_work(uow), self.caller, customer_id)

    @rpc
    def transfer_customer(self, customer_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return use_cases.transfer_customer(customer_work(uow), self.caller, customer_id,
                                               schemas.TransferRequest.model_validate(data))

    @rpc
    def handover_customers(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return use_cases.handover_customers(uow, self.caller,
                                                schemas.HandoverRequest.model_validate(data))

    @rpc
    def get_pool_settings(self) -> dict[str, Any]:
        with self.uow() as uow:
            return use_cases.get_pool_settings(uow)

    @rpc
    def put_pool_settings(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return use_cases.put_pool_settings(uow, self.caller,
                                               schemas.PoolSettings.model_validate(data))

    @timer(interval=300)
    def return_idle_customers_to_pool(self) -> None:
        while True:
            with self.uow() as uow:
                if use_cases.return_idle_to_pool(uow) == 0:
                    return

    # -- contacts, categories, account team -------------------------------------------
    @rpc
    def create_contact(self, customer_id: str, data: dict[str, Any],
                       contact_id: str | None = None) -> dict[str, Any]:
        # ``contact_id``: another service's id for the contact (never a client's)
        with self.uow() as uow:
            return contacts.create_contact(uow, self.caller, customer_id,
                                           schemas.ContactIn.model_validate(data), contact_id)

    @rpc
    def list_contacts(self, customer_id: str, query: dict[str, Any] | None = None
                      ) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return contacts.list_contacts(uow, self.caller, customer_id,
                                          PageQuery.model_validate(query or {}))

    @rpc
    def get_contact(self, customer_id: str, contact_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return contacts.get_contact(uow, self.caller, customer_id, contact_id)

    @rpc
    def update_contact(self, customer_id: str, contact_id: str, data: dict[str, Any],
                       expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return contacts.update_contact(uow, self.caller, customer_id, contact_id,
                                           schemas.ContactUpdate.model_validate(data),
                                           expected_version)

    @rpc
    def delete_contact(self, customer_id: str, contact_id: str) -> dict[str, Any]:
        with self.uow() as uow:
            return contacts.delete_contact(uow, self.caller, customer_id, contact_id)

    @rpc
    def erase_contact(self, customer_id: str, contact_id: str) -> dict[str, Any]:
        with self.uow() as uow:
            return contacts.erase_contact(uow, self.caller, customer_id, contact_id)

    @rpc
    def create_category(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return contacts.create_category(uow, self.caller,
                                            schemas.CategoryIn.model_validate(data))

    @rpc
    def update_category(self, category_id: str, data: dict[str, Any],
                        expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return contacts.update_category(uow, self.caller, category_id,
                                            schemas.CategoryUpdate.model_validate(data),
                                            expected_version)

    @rpc
    def list_categories(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return contacts.list_categories(
                uow, schemas.CategoryQuery.model_validate(query or {}))

    @rpc
    def get_account_team(self, customer_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return contacts.account_team(uow, self.caller, customer_id)

    @rpc
    def add_account_team_member(self, customer_id: str, data: dict[str, Any]
                                ) -> dict[str, Any]:
        with self.uow() as uow:
            return contacts.add_team_member(uow, self.caller, customer_id,
                                            schemas.AccountTeamMemberIn.model_validate(data))

    @rpc
    def remove_account_team_member(self, customer_id: str, user_id: str) -> dict[str, Any]:
        with self.uow() as uow:
            return contacts.remove_team_member(uow, self.caller, customer_id, user_id)

    @rpc
    def create_assignment_rule(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return contacts.create_assignment_rule(
                uow, self.caller, schemas.AssignmentRuleIn.model_validate(data))

    @rpc
    def list_assignment_rules(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return contacts.list_assignment_rules(uow, PageQuery.model_validate(query or {}))

    @rpc
    def update_assignment_rule(self, rule_id: str, data: dict[str, Any],
                               expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return contacts.update_assignment_rule(
                uow, self.caller, rule_id, schemas.AssignmentRuleUpdate.model_validate(data),
                expected_version)

    @rpc
    def delete_assignment_rule(self, rule_id: str) -> dict[str, Any]:
        with self.uow() as uow:
            return contacts.delete_assignment_rule(uow, self.caller, rule_id)

    # -- follow-ups and visit plans -----------------------------------------------------
    @rpc
    def log_followup(self, customer_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return activities.log_followup(uow, self.caller, customer_id,
                                           schemas.FollowupIn.model_validate(data))

    @rpc
    def list_followups(self, customer_id: str, query: dict[str, Any] | None = None
                       ) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return activities.list_followups(
                uow, self.caller, customer_id, schemas.FollowupQuery.model_validate(query or {}))

    @rpc
    def list_due_followups(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return activities.due_followups(
                uow, self.caller, schemas.DueFollowupQuery.model_validate(query or {}))

    @rpc
    def create_visit_plan(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return activities.create_visit_plan(uow, self.caller,
                                                 schemas.VisitPlanIn.model_validate(data))

    @rpc
    def get_visit_plan(self, plan_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return activities.get_visit_plan(uow, self.caller, plan_id)

    @rpc
    def act_on_visit_plan(self, plan_id: str, data: dict[str, Any],
                          expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return activities.act_on_visit_plan(uow, self.caller, plan_id,
                                                schemas.VisitAction.model_validate(data),
                                                expected_version)

    @rpc
    def list_visit_plans(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return activities.list_visit_plans(
                uow, self.caller, schemas.VisitPlanQuery.model_validate(query or {}))

    @rpc
    def my_agenda(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return agenda.my_agenda(uow, self.caller, query)

    @rpc
    def search_contacts(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return directory.search_contacts(uow, self.caller, query)

    # -- bulk ---------------------------------------------------------------------------
    @rpc
    def import_customers(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return bulk.import_customers(uow, self.caller, schemas.CsvFile.model_validate(data))

    @rpc
    def export_customers(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return bulk.export_customers(uow, self.caller,
                                         schemas.ExportQuery.model_validate(query or {}))

    @rpc
    def list_duplicates(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return bulk.list_duplicates(uow, self.caller,
                                        schemas.DuplicateQuery.model_validate(query or {}))

    @rpc
    def merge_customers(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return bulk.merge_customers(uow, self.caller,
                                        schemas.MergeRequest.model_validate(data))

    # -- segments -----------------------------------------------------------------------
    @rpc
    def create_segment(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return segments.create_segment(uow, self.caller,
                                           schemas.SegmentIn.model_validate(data))

    @rpc
    def list_segments(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return segments.list_segments(uow, self.caller, PageQuery.model_validate(query or {}))

    @rpc
    def get_segment(self, segment_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return segments.get_segment(uow, self.caller, segment_id)

    @rpc
    def update_segment(self, segment_id: str, data: dict[str, Any],
                       expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return segments.update_segment(uow, self.caller, segment_id,
                                           schemas.SegmentUpdate.model_validate(data),
                                           expected_version)

    @rpc
    def delete_segment(self, segment_id: str) -> dict[str, Any]:
        with self.uow() as uow:
            return segments.delete_segment(uow, self.caller, segment_id)

    @rpc
    def list_segment_members(self, segment_id: str, query: dict[str, Any] | None = None
                             ) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return segments.segment_members(
                uow, self.caller, segment_id,
                schemas.SegmentMembersQuery.model_validate(query or {}))

    # -- classification -----------------------------------------------------------------
    @rpc
    def get_classification_settings(self) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return classification.get_settings(uow)

    @rpc
    def put_classification_settings(self, data: dict[str, Any]) -> dict[str, Any]:
        body = schemas.ClassificationSettings.model_validate(data).model_dump(mode="json")
        with self.uow() as uow:
            return classification.put_settings(uow, self.caller, body)

    @rpc
    def recompute_classification(self) -> dict[str, Any]:
        with self.uow() as uow:
            return classification.recompute_now(uow, self.caller)

    @timer(interval=600)
    def classify_nightly(self) -> None:
        with self.uow() as uow:
            # a transaction per page of customers, and between pages RPCs get the CPU
            classification.run_nightly(uow, pause=eventlet.sleep)

    @event_handler("sales", "order.confirmed")
    def on_order_confirmed(self, event: CloudEvent, uow: UnitOfWork) -> None:
        classification.on_order_confirmed(uow, event.payload(OrderConfirmed))

    @event_handler("billing", "payment.received")
    def on_payment_received(self, event: CloudEvent, uow: UnitOfWork) -> None:
        payment = event.payload(PaymentReceived)
        classification.on_payment(uow, payment, +1)
        membership.earn(uow, event.id, payment)

    @event_handler("billing", "payment.allocated")
    def on_payment_allocated(self, event: CloudEvent, uow: UnitOfWork) -> None:
        allocated = event.payload(PaymentAllocated)
        classification.on_payment_allocated(uow, allocated)
        membership.earn(uow, event.id, allocated)

    @event_handler("billing", "payment.refunded")
    def on_payment_refunded(self, event: CloudEvent, uow: UnitOfWork) -> None:
        refunded = event.payload(PaymentRefunded)
        classification.on_payment(uow, refunded, -1)
        membership.claw_back(uow, event.id, refunded)

    # -- membership (CUS-17) ------------------------------------------------------------
    @rpc
    def list_member_tiers(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return membership.list_tiers(uow, self.caller,
                                         schemas.MemberTierQuery.model_validate(query or {}))

    @rpc
    def create_member_tier(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return membership.create_tier(uow, self.caller,
                                          schemas.MemberTierIn.model_validate(data))

    @rpc
    def update_member_tier(self, tier_id: str, data: dict[str, Any],
                           expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return membership.update_tier(uow, self.caller, tier_id,
                                          schemas.MemberTierUpdate.model_validate(data),
                                          expected_version)

    @rpc
    def issue_member_card(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return membership.issue_card(uow, self.caller,
                                         schemas.MemberCardIn.model_validate(data))

    @rpc
    def list_member_cards(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return membership.list_cards(uow, self.caller,
                                         schemas.MemberCardQuery.model_validate(query or {}))

    @rpc
    def get_member_card(self, card_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return membership.get_card(uow, self.caller, card_id)

    @rpc
    def change_member_card_status(self, card_id: str, data: dict[str, Any],
                                  expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return membership.change_card_status(
                uow, self.caller, card_id, schemas.CardStatusChange.model_validate(data),
                expected_version)

    @rpc
    def list_points_entries(self, card_id: str, query: dict[str, Any] | None = None
                            ) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return membership.list_entries(
                uow, self.caller, card_id, schemas.PointsEntryQuery.model_validate(query or {}))

    @rpc
    def redeem_points(self, card_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return membership.redeem_points(uow, self.caller, card_id,
                                            schemas.PointsRedeem.model_validate(data))

    @rpc
    def adjust_points(self, card_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return membership.adjust_points(uow, self.caller, card_id,
                                            schemas.PointsAdjust.model_validate(data))

    @rpc
    def reverse_points_entry(self, card_id: str, entry_id: str, data: dict[str, Any]
                             ) -> dict[str, Any]:
        with self.uow() as uow:
            return membership.reverse_entry(uow, self.caller, card_id, entry_id,
                                            schemas.PointsReverse.model_validate(data))

    @rpc
    def get_membership_settings(self) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return membership.get_settings(uow)

    @rpc
    def put_membership_settings(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return membership.put_settings(uow, self.caller,
                                           schemas.MembershipSettings.model_validate(data))

    @rpc
    def expire_points(self, data: dict[str, Any] | None = None) -> dict[str, Any]:
        run = schemas.PointsExpiryRun.model_validate(data or {})
        with self.uow() as uow:
            return membership.expire_points(uow, run.as_of)

    @rpc
    def recompute_member_tiers(self, data: dict[str, Any] | None = None) -> dict[str, Any]:
        run = schemas.TierRecomputeRun.model_validate(data or {})
        with self.uow() as uow:
            return membership.recompute_tiers(uow, run.as_of)

    @timer(interval=3600)
    def recompute_member_tiers_daily(self) -> None:
        # hourly, so a new day's window applies soon after midnight; once a day, and only
        # under a rolling tier period
        with self.uow() as uow:
            membership.recompute_tiers_daily(uow)

    @rpc
    def create_points_bonus_rule(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return membership.create_bonus_rule(
                uow, self.caller, schemas.PointsBonusRuleIn.model_validate(data),
                self._campaign)

    @rpc
    def list_points_bonus_rules(self, query: dict[str, Any] | None = None
                                ) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return membership.list_bonus_rules(
                uow, self.caller, schemas.PointsBonusRuleQuery.model_validate(query or {}))

    @rpc
    def get_points_bonus_rule(self, rule_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return membership.get_bonus_rule(uow, self.caller, rule_id)

    @rpc
    def update_points_bonus_rule(self, rule_id: str, data: dict[str, Any],
                                 expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return membership.update_bonus_rule(
                uow, self.caller, rule_id, schemas.PointsBonusRuleUpdate.model_validate(data),
                expected_version)

    @rpc
    def delete_points_bonus_rule(self, rule_id: str, expected_version: int | None = None
                                 ) -> dict[str, Any]:
        with self.uow() as uow:
            return membership.delete_bonus_rule(uow, self.caller, rule_id, expected_version)

    @timer(interval=3600)
    def expire_points_daily(self) -> None:
        # hourly, so a new day's expiry comes soon after midnight; a run that finds nothing
        # due writes nothing (and nothing at all unless the rule is configured)
        with self.uow() as uow:
            membership.expire_points(uow)

    # -- local copies -------------------------------------------------------------------
    def hand_over(self, uow: UnitOfWork, deactivated: UserDeactivated) -> None:
        use_cases.handover(uow, deactivated.id, deactivated.successor_id)
