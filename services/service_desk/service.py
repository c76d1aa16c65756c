"""nameko entrypoints of the service desk: thin adapters onto ``use_cases``.

Subscriptions (one place): gateway user.* and team.* (staff copy, handover); customer
customer.* (customer copy, merges) and contact.* (contact copy) — all through the
shared copy mixins. Synchronous calls: customer.get_customer / get_contact, for a
customer or contact created a moment ago that the copies have not heard of yet.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import eventlet
from crm_platform.errors import NotFound, ValidationFailed
from crm_platform.service import CrmService, UnitOfWorkProvider, rpc, timer
from crm_platform.service.calls import call, call_each
from crm_platform.service.copies import ContactCopies, CustomerCopies, StaffCopies
from crm_platform.uow import UnitOfWork
from nameko.rpc import RpcProxy

from gateway.events import UserDeactivated
from services.customer.events import CustomerErased, CustomerMerged
from services.service_desk import schemas
from services.service_desk.db import erasure
from services.service_desk.db.models import Base, Contact, Customer, Staff, Team
from services.service_desk.use_cases import (
    agenda,
    callbacks,
    calls,
    common,
    copies,
    knowledge,
    portal,
    reports,
    sla,
    tickets,
    work_orders,
)

# how often every replica looks for breached SLA targets (SVC-03: within 30 s)
SWEEP_SECONDS = float(os.environ.get("CRM_SERVICE_DESK_SWEEP_SECONDS", "10"))
# the sweep works in small transactions with a pause between them, so a burst of
# breaches does not take the process away from arriving requests
SWEEP_BATCH = 100
SWEEP_PAUSE_SECONDS = 0.01
CUSTOMER_TIMEOUT = 5.0
# the most people one call list is built from
CALL_LIST_MAX = 5000
# how long a caller lookup waits for the customer and sales services' parts (an agent's
# screen pops while the phone rings: a slow part is marked unavailable instead)
LOOKUP_RELATED_TIMEOUT = float(os.environ.get("CRM_CALL_LOOKUP_RELATED_TIMEOUT", "1.0"))


def _number(value: str | int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationFailed("a version number is a whole number",
                               code="invalid_version_number") from None


class ServiceDeskService(CrmService, StaffCopies, CustomerCopies, ContactCopies):
    name = "service_desk"
    uow = UnitOfWorkProvider(Base.metadata)
    staff_copy, team_copy, customer_copy, contact_copy = Staff, Team, Customer, Contact
    sales_rpc = RpcProxy("sales")
    notify_rpc = RpcProxy("notify")

    # -- calls to the customer service ---------------------------------------------------
    def _fetch_contact(self, customer_id: str, contact_id: str) -> dict[str, Any] | None:
        try:
            return dict(call(self.customer_rpc, "get_contact", timeout=CUSTOMER_TIMEOUT,
                             customer_id=customer_id, contact_id=contact_id))
        except NotFound:
            return None

    # -- copies' hooks --------------------------------------------------------------------
    def customer_merged(self, uow: UnitOfWork, merged: CustomerMerged) -> None:
        copies.customer_merged(uow, merged)

    def customer_erased(self, uow: UnitOfWork, customer: CustomerErased,
                        values: list[str]) -> list[str]:
        erasure.erase_records(uow.session, customer.id,
                              [v for v in values if v.startswith("+")], values)
        return []

    def hand_over(self, uow: UnitOfWork, deactivated: UserDeactivated) -> None:
        copies.hand_over(uow, deactivated)

    # -- tickets --------------------------------------------------------------------------
    @rpc
    def create_ticket(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return tickets.create_ticket(uow, self.caller,
                                         schemas.TicketCreate.model_validate(data),
                                         self.fetch_customer, self._fetch_contact)

    @rpc
    def list_tickets(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return tickets.list_tickets(uow, self.caller,
                                        schemas.TicketQuery.model_validate(query or {}))

    @rpc
    def get_ticket(self, ticket_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return tickets.get_ticket(uow, self.caller, ticket_id)

    @rpc
    def update_ticket(self, ticket_id: str, data: dict[str, Any],
                      expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return tickets.update_ticket(uow, self.caller, ticket_id,
                                         schemas.TicketUpdate.model_validate(data),
                                         expected_version)

    @rpc
    def assign_ticket(self, ticket_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return tickets.assign_ticket(uow, self.caller, ticket_id,
                                         schemas.TicketAssign.model_validate(data))

    @rpc
    def reply_to_ticket(self, ticket_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return tickets.reply_to_ticket(uow, self.caller, ticket_id,
                                           schemas.CommentIn.model_validate(data))

    @rpc
    def add_ticket_note(self, ticket_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return tickets.add_note(uow, self.caller, ticket_id,
                                    schemas.CommentIn.model_validate(data))

    @rpc
    def list_ticket_comments(self, ticket_id: str, query: dict[str, Any] | None = None
                             ) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return tickets.list_comments(uow, self.caller, ticket_id,
                                         schemas.CommentQuery.model_validate(query or {}))

    @rpc
    def get_ticket_log(self, ticket_id: str, query: dict[str, Any] | None = None
                       ) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return tickets.ticket_log(uow, self.caller, ticket_id,
                                      schemas.TicketLogQuery.model_validate(query or {}))

    def _status(self, ticket_id: str, action: str, body: Any) -> dict[str, Any]:
        with self.uow() as uow:
            return tickets.set_status(uow, self.caller, ticket_id, action, body)

    @rpc
    def open_ticket(self, ticket_id: str, data: dict[str, Any] | None = None
                    ) -> dict[str, Any]:
        return self._status(ticket_id, "open", schemas.StatusIn.model_validate(data or {}))

    @rpc
    def set_ticket_pending(self, ticket_id: str, data: dict[str, Any] | None = None
                           ) -> dict[str, Any]:
        return self._status(ticket_id, "set_pending",
                            schemas.StatusIn.model_validate(data or {}))

    @rpc
    def resolve_ticket(self, ticket_id: str, data: dict[str, Any]) -> dict[str, Any]:
        return self._status(ticket_id, "resolve", schemas.ResolveIn.model_validate(data))

    @rpc
    def close_ticket(self, ticket_id: str, data: dict[str, Any] | None = None
                     ) -> dict[str, Any]:
        return self._status(ticket_id, "close", schemas.CloseIn.model_validate(data or {}))

    @rpc
    def reopen_ticket(self, ticket_id: str, data: dict[str, Any]) -> dict[str, Any]:
        return self._status(ticket_id, "reopen", schemas.ReasonIn.model_validate(data))

    @rpc
    def escalate_ticket(self, ticket_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return tickets.escalate_ticket(uow, self.caller, ticket_id,
                                           schemas.ReasonIn.model_validate(data))

    @rpc
    def rate_ticket(self, ticket_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return tickets.rate_ticket(uow, self.caller, ticket_id,
                                       schemas.RatingIn.model_validate(data))

    @rpc
    def customer_service_summary(self, customer_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return tickets.customer_service_summary(uow, self.caller, customer_id)

    @rpc
    def my_agenda(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return agenda.my_agenda(uow, self.caller, query)

    # -- work orders ----------------------------------------------------------------------
    @rpc
    def create_work_order(self, ticket_id: str, data: dict[str, Any] | None = None
                          ) -> dict[str, Any]:
        with self.uow() as uow:
            return work_orders.create_work_order(
                uow, self.caller, ticket_id, schemas.WorkOrderCreate.model_validate(data or {}))

    @rpc
    def list_work_orders(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return work_orders.list_work_orders(
                uow, self.caller, schemas.WorkOrderQuery.model_validate(query or {}))

    @rpc
    def get_work_order(self, work_order_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return work_orders.get_work_order(uow, self.caller, work_order_id)

    @rpc
    def get_work_order_link(self, work_order_id: str) -> dict[str, Any]:
        """For the documents service: a work order its caller may link a file to."""
        with self.uow(read_only=True) as uow:
            return work_orders.get_work_order_link(uow, self.caller, work_order_id)

    @rpc
    def update_work_order(self, work_order_id: str, data: dict[str, Any],
                          expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return work_orders.update_work_order(
                uow, self.caller, work_order_id,
                schemas.WorkOrderUpdate.model_validate(data), expected_version)

    @rpc
    def dispatch_work_order(self, work_order_id: str, data: dict[str, Any]
                            ) -> dict[str, Any]:
        with self.uow() as uow:
            return work_orders.dispatch_work_order(uow, self.caller, work_order_id,
                                                   schemas.DispatchIn.model_validate(data))

    def _work_order_step(self, work_order_id: str, action: str, body: Any = None
                         ) -> dict[str, Any]:
        with self.uow() as uow:
            return work_orders.step_work_order(uow, self.caller, work_order_id, action, body)

    @rpc
    def decline_work_order(self, work_order_id: str) -> dict[str, Any]:
        return self._work_order_step(work_order_id, "decline")

    @rpc
    def confirm_work_order(self, work_order_id: str) -> dict[str, Any]:
        return self._work_order_step(work_order_id, "confirm")

    @rpc
    def start_work_order(self, work_order_id: str) -> dict[str, Any]:
        return self._work_order_step(work_order_id, "start")

    @rpc
    def complete_work_order(self, work_order_id: str, data: dict[str, Any]) -> dict[str, Any]:
        return self._work_order_step(work_order_id, "complete",
                                     schemas.CompleteIn.model_validate(data))

    @rpc
    def close_work_order(self, work_order_id: str) -> dict[str, Any]:
        return self._work_order_step(work_order_id, "close")

    @rpc
    def cancel_work_order(self, work_order_id: str, data: dict[str, Any]) -> dict[str, Any]:
        return self._work_order_step(work_order_id, "cancel",
                                     schemas.ReasonIn.model_validate(data))

    @rpc
    def suggest_technicians(self, work_order_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return work_orders.suggest_technicians(uow, self.caller, work_order_id)

    @rpc
    def list_technicians(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return work_orders.list_technicians(
                uow, self.caller, schemas.TechnicianQuery.model_validate(query or {}))

    @rpc
    def put_technician_skills(self, technician_id: str, data: dict[str, Any]
                              ) -> dict[str, Any]:
        with self.uow() as uow:
            return work_orders.put_skills(uow, self.caller, technician_id,
                                          schemas.SkillsIn.model_validate(data))

    # -- SLA configuration and the sweep --------------------------------------------------
    @rpc
    def list_sla_policies(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return sla.list_policies(uow, self.caller,
                                     schemas.PolicyQuery.model_validate(query or {}))

    @rpc
    def create_sla_policy(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return sla.create_policy(uow, self.caller, schemas.PolicyIn.model_validate(data))

    @rpc
    def get_sla_policy(self, policy_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return sla.get_policy(uow, self.caller, policy_id)

    @rpc
    def update_sla_policy(self, policy_id: str, data: dict[str, Any],
                          expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return sla.update_policy(uow, self.caller, policy_id,
                                     schemas.PolicyUpdate.model_validate(data),
                                     expected_version)

    @rpc
    def delete_sla_policy(self, policy_id: str) -> dict[str, Any]:
        with self.uow() as uow:
            return sla.delete_policy(uow, self.caller, policy_id)

    @rpc
    def list_business_calendars(self, query: dict[str, Any] | None = None
                                ) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return sla.list_calendars(uow, self.caller,
                                      schemas.CalendarQuery.model_validate(query or {}))

    @rpc
    def create_business_calendar(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return sla.create_calendar(uow, self.caller, schemas.CalendarIn.model_validate(data))

    @rpc
    def get_business_calendar(self, calendar_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return sla.get_calendar(uow, self.caller, calendar_id)

    @rpc
    def update_business_calendar(self, calendar_id: str, data: dict[str, Any],
                                 expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return sla.update_calendar(uow, self.caller, calendar_id,
                                       schemas.CalendarUpdate.model_validate(data),
                                       expected_version)

    @rpc
    def get_service_desk_settings(self) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return sla.get_settings(uow, self.caller)

    @rpc
    def put_service_desk_settings(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return sla.put_settings(uow, self.caller,
                                    schemas.ServiceDeskSettings.model_validate(data))

    @rpc
    def run_sla_sweep(self) -> dict[str, Any]:
        """Sweep now, in this replica (admins and service managers; tests, benchmarks)."""
        sla.run_sweep(self.caller)
        breached, escalated = self._sweep()
        return {"breached": breached, "escalated": escalated}

    @timer(interval=SWEEP_SECONDS)
    def sweep_sla(self) -> None:
        """Every replica runs this; tickets are claimed with SKIP LOCKED."""
        self._sweep()

    def _sweep(self) -> tuple[int, int]:
        breached = escalated = 0
        at = common.now()
        while True:
            with self.uow() as uow:
                claimed, b, e = sla.sweep_breaches(uow, at, SWEEP_BATCH)
            breached, escalated = breached + b, escalated + e
            if claimed < SWEEP_BATCH:
                return breached, escalated
            eventlet.sleep(SWEEP_PAUSE_SECONDS)

    # -- callbacks ------------------------------------------------------------------------
    @rpc
    def list_callbacks(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return callbacks.list_callbacks(uow, self.caller,
                                            schemas.CallbackQuery.model_validate(query or {}))

    @rpc
    def get_callback(self, callback_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return callbacks.get_callback(uow, self.caller, callback_id)

    @rpc
    def record_callback_attempt(self, callback_id: str, data: dict[str, Any]
                                ) -> dict[str, Any]:
        with self.uow() as uow:
            return callbacks.record_attempt(uow, self.caller, callback_id,
                                            schemas.AttemptIn.model_validate(data))

    # -- the call centre (SVC-08) ---------------------------------------------------------
    def _segment_members(self, segment_id: str) -> list[str]:
        """A segment's customer ids, page by page from the customer service (as the
        caller), at most ``CALL_LIST_MAX`` of them."""
        found: list[str] = []
        cursor: str | None = None
        while len(found) < CALL_LIST_MAX:
            query: dict[str, Any] = {"limit": 200, "fields": "id"}
            if cursor:
                query["cursor"] = cursor
            page = call(self.customer_rpc, "list_segment_members", timeout=CUSTOMER_TIMEOUT,
                        segment_id=segment_id, query=query)
            found += [item["id"] for item in page["items"]]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        return found[:CALL_LIST_MAX]

    def _ask_each(self, asks: dict[str, tuple[str, str, dict[str, Any]]]) -> dict[str, Any]:
        """Other services asked at once (as the caller) within one deadline."""
        proxies = {"customer": self.customer_rpc, "sales": self.sales_rpc}
        return call_each({name: (proxies[service], method, kwargs)
                          for name, (service, method, kwargs) in asks.items()},
                         timeout=LOOKUP_RELATED_TIMEOUT)

    def _care_contacts(self, rule_id: str) -> list[str]:
        """The contacts a care rule reminded (its deliveries not suppressed), newest
        first, page by page from the notification service (as the caller), at most
        ``CALL_LIST_MAX`` of them."""
        found: dict[str, None] = {}
        cursor: str | None = None
        for _ in range(CALL_LIST_MAX // 200 * 2):  # one contact has a delivery per channel
            query: dict[str, Any] = {"rule_id": rule_id, "limit": 200}
            if cursor:
                query["cursor"] = cursor
            page = call(self.notify_rpc, "list_notification_deliveries",
                        timeout=CUSTOMER_TIMEOUT, query=query)
            for d in page["items"]:
                if d["recipient_kind"] == "contact" and d["status"] != "suppressed":
                    found[d["recipient_id"]] = None
            cursor = page.get("next_cursor")
            if not cursor or len(found) >= CALL_LIST_MAX:
                break
        return list(found)[:CALL_LIST_MAX]

    @rpc
    def lookup_caller(self, query: dict[str, Any]) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            found = calls.lookup(uow, self.caller, schemas.LookupQuery.model_validate(query))
        return calls.with_related(self.caller, found, self._ask_each)

    @rpc
    def log_call(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return calls.log_call(uow, self.caller, schemas.CallIn.model_validate(data),
                                  self.fetch_customer, self._fetch_contact)

    @rpc
    def list_calls(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return calls.list_calls(uow, self.caller,
                                    schemas.CallQuery.model_validate(query or {}))

    @rpc
    def get_call(self, call_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return calls.get_call(uow, self.caller, call_id)

    @rpc
    def update_call(self, call_id: str, data: dict[str, Any],
                    expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return calls.update_call(uow, self.caller, call_id,
                                     schemas.CallUpdate.model_validate(data), expected_version,
                                     self.fetch_customer, self._fetch_contact)

    @rpc
    def open_ticket_from_call(self, call_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return calls.call_to_ticket(uow, self.caller, call_id,
                                        schemas.CallTicketIn.model_validate(data),
                                        self.fetch_customer, self._fetch_contact)

    def _save_followup(self, customer_id: str, data: dict[str, Any]) -> dict[str, Any]:
        return dict(call(self.customer_rpc, "log_followup", timeout=CUSTOMER_TIMEOUT,
                         customer_id=customer_id, data=data))

    @rpc
    def save_call_as_followup(self, call_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return calls.call_to_followup(uow, self.caller, call_id,
                                          schemas.CallFollowupIn.model_validate(data),
                                          self._save_followup)

    @rpc
    def create_telephony_connector(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return calls.create_connector(uow, self.caller,
                                          schemas.ConnectorIn.model_validate(data))

    @rpc
    def list_telephony_connectors(self, query: dict[str, Any] | None = None
                                  ) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return calls.list_connectors(uow, self.caller,
                                         schemas.ConnectorQuery.model_validate(query or {}))

    @rpc
    def receive_telephony_event(self, connector: str, data: dict[str, Any]) -> dict[str, Any]:
        """The signed webhook (no caller: the connector's signature is checked)."""
        with self.uow() as uow:
            return calls.receive_telephony_event(uow, connector,
                                                 schemas.PublicRequest.model_validate(data))

    @rpc
    def create_call_list(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return calls.create_call_list(uow, self.caller,
                                          schemas.CallListIn.model_validate(data),
                                          self._segment_members, self._care_contacts)

    @rpc
    def list_call_lists(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return calls.list_call_lists(uow, self.caller,
                                         schemas.CallListQuery.model_validate(query or {}))

    @rpc
    def get_call_list(self, call_list_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return calls.get_call_list(uow, self.caller, call_list_id)

    @rpc
    def close_call_list(self, call_list_id: str) -> dict[str, Any]:
        with self.uow() as uow:
            return calls.close_call_list(uow, self.caller, call_list_id)

    @rpc
    def list_call_list_entries(self, call_list_id: str, query: dict[str, Any] | None = None
                               ) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return calls.list_entries(uow, self.caller, call_list_id,
                                      schemas.EntryQuery.model_validate(query or {}))

    @rpc
    def record_call_list_attempt(self, call_list_id: str, entry_id: str,
                                 data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return calls.record_entry_attempt(uow, self.caller, call_list_id, entry_id,
                                              schemas.EntryAttemptIn.model_validate(data))

    @rpc
    def get_call_report(self, query: dict[str, Any]) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return calls.call_report(uow, self.caller,
                                     schemas.CallReportQuery.model_validate(query))

    # -- reports --------------------------------------------------------------------------
    @rpc
    def get_satisfaction_report(self, query: dict[str, Any]) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return reports.satisfaction_report(
                uow, self.caller, schemas.SatisfactionQuery.model_validate(query))

    @rpc
    def get_sla_report(self, query: dict[str, Any]) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return reports.sla_report(uow, self.caller, schemas.SlaQuery.model_validate(query))

    # -- knowledge base -------------------------------------------------------------------
    @rpc
    def create_kb_article(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return knowledge.create_article(uow, self.caller,
                                            schemas.ArticleCreate.model_validate(data))

    @rpc
    def draft_kb_article_from_ticket(self, ticket_id: str, data: dict[str, Any] | None = None
                                     ) -> dict[str, Any]:
        with self.uow() as uow:
            return knowledge.draft_from_ticket(
                uow, self.caller, ticket_id, schemas.ArticleFromTicket.model_validate(data or {}))

    @rpc
    def list_kb_articles(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return knowledge.list_articles(uow, self.caller,
                                           schemas.ArticleQuery.model_validate(query or {}))

    @rpc
    def get_kb_article(self, article_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return knowledge.get_article(uow, self.caller, article_id)

    @rpc
    def update_kb_article(self, article_id: str, data: dict[str, Any],
                          expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return knowledge.update_article(uow, self.caller, article_id,
                                            schemas.ArticleUpdate.model_validate(data),
                                            expected_version)

    @rpc
    def add_kb_version(self, article_id: str, data: dict[str, Any] | None = None
                       ) -> dict[str, Any]:
        with self.uow() as uow:
            return knowledge.add_version(uow, self.caller, article_id,
                                         schemas.VersionIn.model_validate(data or {}))

    @rpc
    def update_kb_version(self, article_id: str, number: str | int, data: dict[str, Any]
                          ) -> dict[str, Any]:
        with self.uow() as uow:
            return knowledge.update_version(uow, self.caller, article_id, _number(number),
                                            schemas.VersionUpdate.model_validate(data))

    def _kb_step(self, step: Callable[..., dict[str, Any]], article_id: str,
                 number: str | int) -> dict[str, Any]:
        with self.uow() as uow:
            return step(uow, self.caller, article_id, _number(number))

    @rpc
    def publish_kb_version(self, article_id: str, number: str | int) -> dict[str, Any]:
        return self._kb_step(knowledge.publish_version, article_id, number)

    @rpc
    def retire_kb_version(self, article_id: str, number: str | int) -> dict[str, Any]:
        return self._kb_step(knowledge.retire_version, article_id, number)

    @rpc
    def search_kb(self, query: dict[str, Any]) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return knowledge.search_articles(uow, self.caller,
                                             schemas.SearchQuery.model_validate(query))

    # -- the customer's portal ------------------------------------------------------------
    @rpc
    def portal_list_tickets(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return portal.list_tickets(uow, self.caller,
                                       schemas.PortalTicketQuery.model_validate(query or {}))

    @rpc
    def portal_get_ticket(self, ticket_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return portal.get_ticket(uow, self.caller, ticket_id)

    @rpc
    def portal_create_ticket(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return portal.create_ticket(uow, self.caller,
                                        schemas.PortalTicketCreate.model_validate(data))

    @rpc
    def portal_reply(self, ticket_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return portal.reply(uow, self.caller, ticket_id,
                                schemas.CommentIn.model_validate(data))

    @rpc
    def portal_rate_ticket(self, ticket_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return portal.rate(uow, self.caller, ticket_id, schemas.RatingIn.model_validate(data))

    @rpc
    def portal_list_articles(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return portal.list_articles(uow, self.caller,
                                        schemas.PortalArticleQuery.model_validate(query or {}))

    @rpc
    def portal_get_article(self, article_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return portal.get_article(uow, self.caller, article_id)

    @rpc
    def portal_search_kb(self, query: dict[str, Any]) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return portal.search(uow, self.caller, schemas.SearchQuery.model_validate(query))
