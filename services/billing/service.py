"""nameko entrypoints of the billing service: thin adapters onto ``use_cases``."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date
from typing import Any

import eventlet
from crm_platform.errors import NotFound
from crm_platform.events import CloudEvent
from crm_platform.service import (
    CrmService,
    UnitOfWorkProvider,
    batch_event_handler,
    event_handler,
    rpc,
    timer,
)
from crm_platform.service.calls import call
from crm_platform.service.copies import CustomerCopies, StaffCopies
from crm_platform.uow import UnitOfWork

from gateway.events import UserDeactivated
from services.billing import schemas
from services.billing.db import erasure
from services.billing.db.models import Base, BillingCustomer, Staff, StaffTeam
from services.billing.db.repositories import billing_work
from services.billing.use_cases import (
    agenda,
    configuration,
    credit,
    customers,
    dunning,
    expenses,
    handover,
    invoices,
    payments,
    plans,
    reports,
    stored_value,
)
from services.billing.use_cases.common import today
from services.customer.events import CustomerErased, CustomerMerged, MemberCardChanged
from services.sales.events import OrderCancelled, OrderConfirmed

# Subscriptions (one place): customer customer.created / customer.updated /
# customer.owner_changed / customer.archived / customer.merged / customer.erased
# (CustomerCopies); gateway user.created / user.updated / user.deactivated, team.created /
# team.updated (StaffCopies); customer member_card.changed (a card account follows its
# card's status); sales order.confirmed / order.cancelled. Synchronous calls:
# the customer service's get_customer_snapshot for a customer not copied here yet
# (CustomerCopies.fetch_customer), its get_member_card when a stored-value account is
# opened for a member card.


# how often installment invoicing, overdue marking and dunning run (every replica)
TIMER_SECONDS = float(os.environ.get("CRM_BILLING_TIMER_SECONDS", "60"))
# those jobs work in small transactions with a pause between them, so that a run over
# thousands of invoices does not take the process away from arriving orders for seconds
JOB_BATCH = 50
JOB_PAUSE_SECONDS = 0.02


class BillingService(CrmService, StaffCopies, CustomerCopies):
    name = "billing"
    uow = UnitOfWorkProvider(Base.metadata)
    staff_copy, team_copy, customer_copy = Staff, StaffTeam, BillingCustomer

    # -- payment plans ------------------------------------------------------------------
    @rpc
    def list_payment_plans(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return plans.list_payment_plans(
                uow, self.caller, schemas.PaymentPlanQuery.model_validate(query or {}))

    @rpc
    def get_payment_plan(self, plan_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return plans.get_payment_plan(uow, self.caller, plan_id)

    @rpc
    def invoice_installment(self, plan_id: str, number: str | int,
                            data: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return plans.invoice_installment(
                uow, self.caller, plan_id, _int(number),
                schemas.InstallmentInvoiceIn.model_validate(data or {}))

    # -- invoices -----------------------------------------------------------------------
    @rpc
    def list_invoices(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return invoices.list_invoices(uow, self.caller,
                                          schemas.InvoiceQuery.model_validate(query or {}))

    @rpc
    def get_invoice(self, invoice_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return invoices.get_invoice(uow, self.caller, invoice_id)

    @rpc
    def issue_invoice(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return invoices.issue_invoice(billing_work(uow), self.caller,
                                          schemas.InvoiceCreate.model_validate(data),
                                          self.fetch_customer)

    @rpc
    def void_invoice(self, invoice_id: str, data: dict[str, Any],
                     expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return invoices.void_invoice(billing_work(uow), self.caller, invoice_id,
                                         schemas.VoidRequest.model_validate(data),
                                         expected_version)

    @rpc
    def get_dunning_log(self, invoice_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return invoices.dunning_log(uow, self.caller, invoice_id)

    # -- payments -----------------------------------------------------------------------
    @rpc
    def create_payment(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return payments.create_payment(billing_work(uow), self.caller,
                                           schemas.PaymentCreate.model_validate(data),
                                           self.fetch_customer)

    @rpc
    def list_payments(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return payments.list_payments(uow, self.caller,
                                          schemas.PaymentQuery.model_validate(query or {}))

    @rpc
    def get_payment(self, payment_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return payments.get_payment(billing_work(uow), self.caller, payment_id)

    @rpc
    def refund_payment(self, payment_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return payments.refund_payment(billing_work(uow), self.caller, payment_id,
                                           schemas.RefundRequest.model_validate(data))

    @rpc
    def allocate_payment(self, payment_id: str, data: dict[str, Any] | None = None
                         ) -> dict[str, Any]:
        with self.uow() as uow:
            return payments.allocate_payment(
                billing_work(uow), self.caller, payment_id,
                schemas.AllocateRequest.model_validate(data or {}))

    # -- receivables, statements, reports ----------------------------------------------
    @rpc
    def list_receivables(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return reports.list_receivables(
                uow, self.caller, schemas.ReceivableQuery.model_validate(query or {}))

    @rpc
    def get_ageing(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return reports.get_ageing(uow, self.caller,
                                      schemas.AgeingQuery.model_validate(query or {}))

    @rpc
    def get_statement(self, query: dict[str, Any]) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return reports.get_statement(uow, self.caller,
                                         schemas.StatementQuery.model_validate(query))

    @rpc
    def get_period_report(self, query: dict[str, Any]) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return reports.get_period_report(uow, self.caller,
                                             schemas.PeriodQuery.model_validate(query))

    @rpc
    def customer_billing_summary(self, customer_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return reports.customer_billing_summary(uow, self.caller, customer_id)

    # -- credit -------------------------------------------------------------------------
    @rpc
    def get_credit(self, customer_id: str) -> dict[str, Any]:
        with self.uow() as uow:
            return credit.get_credit(uow, self.caller, customer_id, self.fetch_customer)

    @rpc
    def put_credit(self, customer_id: str, data: dict[str, Any],
                   expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return credit.put_credit(uow, self.caller, customer_id,
                                     schemas.CreditUpdate.model_validate(data),
                                     expected_version, self.fetch_customer)

    @rpc
    def check_credit(self, customer_id: str, amount: str, currency: str,
                     order_id: str | None = None, override: bool = False) -> dict[str, Any]:
        """Internal: the sales service asks as it confirms an order (no scope check: the
        caller already holds the order)."""
        with self.uow() as uow:
            return credit.check_credit(uow, customer_id, amount, currency, order_id,
                                       confirming=True, override=override)

    @rpc
    def check_customer_credit(self, customer_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return credit.check_customer_credit(
                uow, self.caller, customer_id, schemas.CreditCheckRequest.model_validate(data),
                self.fetch_customer)

    # -- dunning, settings, jobs --------------------------------------------------------
    @rpc
    def get_dunning_settings(self) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return dunning.get_dunning_settings(uow)

    @rpc
    def put_dunning_settings(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return dunning.put_dunning_settings(uow, self.caller,
                                                schemas.DunningSettings.model_validate(data))

    @rpc
    def run_dunning(self, data: dict[str, Any] | None = None) -> dict[str, Any]:
        dunning.check_admin(self.caller)
        body = schemas.JobRun.model_validate(data or {})
        as_of = body.as_of or today()
        invoices_, sent, skipped = self._dunning(as_of, body.customer_id)
        return {"as_of": as_of.isoformat(), "invoices": invoices_, "sent": sent,
                "skipped": skipped}

    @rpc
    def get_billing_settings(self) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return configuration.get_billing_settings(uow)

    @rpc
    def put_billing_settings(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return configuration.put_billing_settings(
                uow, self.caller, schemas.BillingSettings.model_validate(data))

    @rpc
    def run_billing_job(self, data: dict[str, Any]) -> dict[str, Any]:
        """Run one timer job now as of a date (admins; how tests move the clock)."""
        dunning.check_admin(self.caller)
        body = schemas.BillingJobRun.model_validate(data)
        as_of = body.as_of or today()
        if body.job == "dunning":
            processed = self._dunning(as_of, body.customer_id)[1]
        elif body.job == "ratings":
            with self.uow() as uow:
                processed = credit.rerate_all(uow, as_of, body.customer_id)
        else:
            job = plans.invoice_due_installments if body.job == "installments" \
                else invoices.mark_overdue
            processed = self._drain(job, as_of, body.customer_id)
        return {"job": body.job, "as_of": as_of.isoformat(), "processed": processed}

    @timer(interval=TIMER_SECONDS)
    def run_billing_timers(self) -> None:
        """Every replica runs this; the jobs claim rows with SKIP LOCKED."""
        as_of = today()
        self._drain(plans.invoice_due_installments, as_of, None)
        self._drain(invoices.mark_overdue, as_of, None)
        self._dunning(as_of, None)

    def _drain(self, job: Callable[..., int], as_of: date, customer_id: str | None) -> int:
        total = 0
        while True:
            with self.uow() as uow:
                done = job(uow, as_of, customer_id, batch=JOB_BATCH)
            total += done
            if done == 0:
                return total
            eventlet.sleep(JOB_PAUSE_SECONDS)

    def _dunning(self, as_of: date, customer_id: str | None) -> tuple[int, int, int]:
        after, seen, sent, skipped = "", 0, 0, 0
        while True:
            with self.uow() as uow:
                n, s, k, last = dunning.run_batch(uow, as_of, after, customer_id,
                                                  batch=JOB_BATCH)
            seen, sent, skipped = seen + n, sent + s, skipped + k
            if last is None:
                return seen, sent, skipped
            after = last
            eventlet.sleep(JOB_PAUSE_SECONDS)

    # -- expenses -----------------------------------------------------------------------
    @rpc
    def create_expense(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return expenses.create_expense(uow, self.caller,
                                           schemas.ExpenseCreate.model_validate(data))

    @rpc
    def list_expenses(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return expenses.list_expenses(uow, self.caller,
                                          schemas.ExpenseQuery.model_validate(query or {}))

    @rpc
    def get_expense(self, expense_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return expenses.get_expense(uow, self.caller, expense_id)

    @rpc
    def update_expense(self, expense_id: str, data: dict[str, Any],
                       expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return expenses.update_expense(uow, self.caller, expense_id,
                                           schemas.ExpenseUpdate.model_validate(data),
                                           expected_version)

    @rpc
    def submit_expense(self, expense_id: str) -> dict[str, Any]:
        with self.uow() as uow:
            return expenses.submit_expense(uow, self.caller, expense_id)

    @rpc
    def approve_expense(self, expense_id: str, data: dict[str, Any] | None = None
                        ) -> dict[str, Any]:
        with self.uow() as uow:
            return expenses.decide_expense(uow, self.caller, expense_id, "approve",
                                           schemas.ExpenseDecision.model_validate(data or {}))

    @rpc
    def reject_expense(self, expense_id: str, data: dict[str, Any] | None = None
                       ) -> dict[str, Any]:
        with self.uow() as uow:
            return expenses.decide_expense(uow, self.caller, expense_id, "reject",
                                           schemas.ExpenseDecision.model_validate(data or {}))

    @rpc
    def get_campaign_costs(self, query: dict[str, Any]) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return expenses.campaign_costs(uow, self.caller,
                                           schemas.CampaignCostQuery.model_validate(query))

    # -- stored value (BIL-09) ----------------------------------------------------------
    @rpc
    def open_stored_value_account(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return stored_value.open_account(
                uow, self.caller, schemas.StoredValueAccountIn.model_validate(data),
                self.fetch_customer, self._member_card)

    def _member_card(self, card_id: str) -> dict[str, Any] | None:
        """A member card as the customer service has it, asked as the caller (None: no
        such card, or out of the caller's scope)."""
        try:
            return dict(call(self.customer_rpc, "get_member_card",
                             timeout=self.customer_rpc_timeout, card_id=card_id))
        except NotFound:
            return None

    @rpc
    def get_stored_value_balances(self, query: dict[str, Any]) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return stored_value.balances(
                uow, self.caller, schemas.StoredValueBalanceQuery.model_validate(query))

    @rpc
    def get_stored_value_settings(self) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return stored_value.get_settings(uow)

    @rpc
    def put_stored_value_settings(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return stored_value.put_settings(
                uow, self.caller, schemas.StoredValueSettings.model_validate(data))

    @rpc
    def list_stored_value_accounts(self, query: dict[str, Any] | None = None
                                   ) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return stored_value.list_accounts(
                uow, self.caller, schemas.StoredValueAccountQuery.model_validate(query or {}))

    @rpc
    def get_stored_value_account(self, account_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return stored_value.get_account(uow, self.caller, account_id)

    @rpc
    def top_up_stored_value(self, account_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return stored_value.top_up(uow, self.caller, account_id,
                                       schemas.TopUpIn.model_validate(data))

    @rpc
    def spend_stored_value(self, account_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return stored_value.spend(uow, self.caller, account_id,
                                      schemas.SpendIn.model_validate(data))

    @rpc
    def refund_stored_value(self, account_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return stored_value.refund(uow, self.caller, account_id,
                                       schemas.StoredValueRefundIn.model_validate(data))

    @rpc
    def list_stored_value_entries(self, account_id: str, query: dict[str, Any] | None = None
                                  ) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return stored_value.list_entries(
                uow, self.caller, account_id,
                schemas.StoredValueEntryQuery.model_validate(query or {}))

    @rpc
    def get_stored_value_statement(self, query: dict[str, Any]) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return stored_value.statement(
                uow, self.caller, schemas.StoredValueStatementQuery.model_validate(query))

    @rpc
    def my_agenda(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return agenda.my_agenda(uow, self.caller, query)

    # -- sales events -------------------------------------------------------------------
    @event_handler("sales", "order.confirmed")
    def on_order_confirmed(self, event: CloudEvent, uow: UnitOfWork) -> None:
        order = event.payload(OrderConfirmed)
        plans.on_order_confirmed(uow, order)
        credit.release_reservation(uow, order.order_id)

    @event_handler("sales", "order.cancelled")
    def on_order_cancelled(self, event: CloudEvent, uow: UnitOfWork) -> None:
        order = event.payload(OrderCancelled)
        plans.on_order_cancelled(uow, order)
        credit.release_reservation(uow, order.order_id)

    # -- customer events ----------------------------------------------------------------
    @batch_event_handler("customer", "member_card.changed")
    def on_member_card_changed(self, events: list[CloudEvent], uow: UnitOfWork) -> None:
        for event in events:
            stored_value.follow_card(uow, event.payload(MemberCardChanged))

    # -- local copies -------------------------------------------------------------------
    def customer_merged(self, uow: UnitOfWork, merged: CustomerMerged) -> None:
        customers.move_to_survivor(uow, merged)

    def customer_erased(self, uow: UnitOfWork, customer: CustomerErased,
                        values: list[str]) -> list[str]:
        erasure.scrub_records(uow.session, customer.id, values)
        return []

    def hand_over(self, uow: UnitOfWork, deactivated: UserDeactivated) -> None:
        handover.on_user_deactivated(uow, deactivated)


def _int(value: str | int) -> int:
    from crm_platform.errors import ValidationFailed

    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationFailed("the installment number is a whole number",
                               code="invalid_installment") from None
