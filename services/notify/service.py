"""nameko entrypoints of the notification service: thin adapters onto ``use_cases``."""

from __future__ import annotations

from typing import Any

from crm_platform.contracts import PUBLISHERS
from crm_platform.db import utcnow
from crm_platform.errors import NotFound
from crm_platform.events import CloudEvent
from crm_platform.service import CrmService, UnitOfWorkProvider, rpc
from crm_platform.service.copies import (
    ContactCopies,
    CustomerCopies,
    StaffCopies,
    move_contacts,
)
from crm_platform.service.entrypoints import event_stream
from crm_platform.uow import UnitOfWork

from gateway.events import UserDeactivated
from services.customer.events import ContactSnapshot, CustomerErased, CustomerMerged
from services.notify import schemas
from services.notify.db import erasure
from services.notify.db.models import Base, Contact, Customer, Staff, Team
from services.notify.settings import notify_settings
from services.notify.use_cases import (
    configuration,
    handover,
    messages,
    planning,
    scheduler,
    webhooks,
)
from services.notify.workers import Workers

# Subscriptions (one place): every event of every publisher through one queue
# (``on_platform_event``: rules and webhook subscriptions are data); the local copies:
# gateway user.* / team.*, customer customer.* and contact.*.


class NotifyService(CrmService, StaffCopies, CustomerCopies, ContactCopies):
    name = "notify"
    uow = UnitOfWorkProvider(Base.metadata)
    workers = Workers()
    staff_copy, team_copy, customer_copy, contact_copy = Staff, Team, Customer, Contact

    # -- events ----------------------------------------------------------------------------
    @event_stream(PUBLISHERS, concerned=planning.concerned)
    def on_platform_event(self, events: list[CloudEvent], uow: UnitOfWork) -> None:
        """Rules turn the events into messages; webhook subscriptions take a copy. The
        senders are woken only for work to send (most events concern no rule)."""
        plans = planning.on_events(uow, events)
        if any(plan.created or plan.webhooks for plan in plans):
            uow.on_commit(self.workers.wake)

    def customer_merged(self, uow: UnitOfWork, merged: CustomerMerged) -> None:
        move_contacts(uow, Contact, merged)

    def customer_erased(self, uow: UnitOfWork, customer: CustomerErased,
                        values: list[str]) -> list[str]:
        erasure.erase_deliveries_to(uow.session, "customer", customer.id)
        erasure.scrub_mentions(uow.session, customer.id, values)
        return []

    def contact_erased(self, uow: UnitOfWork, contact: ContactSnapshot,
                       values: list[str]) -> None:
        erasure.erase_deliveries_to(uow.session, "contact", contact.id)
        erasure.scrub_mentions(uow.session, contact.id, values)

    def hand_over(self, uow: UnitOfWork, deactivated: UserDeactivated) -> None:
        handover.hand_over(uow, deactivated)

    # -- inbox (NTF-01) ------------------------------------------------------------------------
    @rpc
    def list_inbox(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return messages.list_inbox(uow, self.caller,
                                       schemas.InboxQuery.model_validate(query or {}))

    @rpc
    def inbox_unread_count(self) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return messages.unread_count(uow, self.caller)

    @rpc
    def mark_inbox_read(self, message_id: str) -> dict[str, Any]:
        with self.uow() as uow:
            return messages.mark_read(uow, self.caller, message_id)

    @rpc
    def mark_inbox_all_read(self) -> dict[str, Any]:
        with self.uow() as uow:
            return messages.mark_all_read(uow, self.caller)

    # -- templates (NTF-04) ---------------------------------------------------------------------
    @rpc
    def create_template(self, data: dict[str, Any]) -> dict[str, Any]:
        self.caller.require("notification:configure")
        with self.uow() as uow:
            return configuration.create_template(uow, self.caller,
                                                 schemas.TemplateIn.model_validate(data))

    @rpc
    def list_templates(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return configuration.list_templates(uow, schemas.Query.model_validate(query or {}))

    @rpc
    def get_template(self, template_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return configuration.get_template(uow, template_id)

    @rpc
    def update_template(self, template_id: str, data: dict[str, Any],
                        expected_version: int | None = None) -> dict[str, Any]:
        self.caller.require("notification:configure")
        with self.uow() as uow:
            return configuration.update_template(
                uow, template_id, schemas.TemplateUpdate.model_validate(data),
                expected_version)

    @rpc
    def delete_template(self, template_id: str) -> dict[str, Any]:
        self.caller.require("notification:configure")
        with self.uow() as uow:
            return configuration.delete_template(uow, template_id)

    @rpc
    def preview_template(self, template_id: str, data: dict[str, Any] | None = None
                         ) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return configuration.preview_template(
                uow, template_id, schemas.PreviewRequest.model_validate(data or {}))

    # -- rules (NTF-02, NTF-03) -------------------------------------------------------------------
    @rpc
    def create_rule(self, data: dict[str, Any]) -> dict[str, Any]:
        self.caller.require("notification:configure")
        with self.uow() as uow:
            return configuration.create_rule(uow, self.caller,
                                             schemas.RuleIn.model_validate(data))

    @rpc
    def list_rules(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return configuration.list_rules(uow,
                                            schemas.RuleQuery.model_validate(query or {}))

    @rpc
    def get_rule(self, rule_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return configuration.get_rule(uow, rule_id)

    @rpc
    def update_rule(self, rule_id: str, data: dict[str, Any],
                    expected_version: int | None = None) -> dict[str, Any]:
        self.caller.require("notification:configure")
        with self.uow() as uow:
            return configuration.update_rule(uow, rule_id,
                                             schemas.RuleUpdate.model_validate(data),
                                             expected_version)

    @rpc
    def delete_rule(self, rule_id: str) -> dict[str, Any]:
        self.caller.require("notification:configure")
        with self.uow() as uow:
            return configuration.delete_rule(uow, rule_id)

    # -- consent settings, calendar, scheduler (NTF-03, NTF-05) ------------------------------------
    @rpc
    def get_consent_settings(self) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return configuration.get_consent_settings(uow)

    @rpc
    def put_consent_settings(self, data: dict[str, Any]) -> dict[str, Any]:
        self.caller.require("notification:configure")
        with self.uow() as uow:
            return configuration.put_consent_settings(
                uow, schemas.ConsentSettings.model_validate(data))

    @rpc
    def create_holiday(self, data: dict[str, Any]) -> dict[str, Any]:
        self.caller.require("notification:configure")
        with self.uow() as uow:
            return configuration.create_holiday(uow, schemas.HolidayIn.model_validate(data))

    @rpc
    def list_holidays(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return configuration.list_holidays(uow, schemas.Query.model_validate(query or {}))

    @rpc
    def delete_holiday(self, holiday_id: str) -> dict[str, Any]:
        self.caller.require("notification:configure")
        with self.uow() as uow:
            return configuration.delete_holiday(uow, holiday_id)

    @rpc
    def run_scheduler(self, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run the reminders and calendar now, as of a time (admins; how tests move the
        clock — the exactly-once bookkeeping is the same as the timer's)."""
        self.caller.require("notification:configure")
        body = schemas.SchedulerRun.model_validate(data or {})
        at = body.at or utcnow()
        reminders = 0
        while True:
            with self.uow() as uow:
                due = scheduler.run_due_reminders(uow, at)
            reminders += due
            if not due:
                break
        with self.uow() as uow:
            calendar = scheduler.run_calendar(uow, at)
        self.workers.wake()
        return {"at": at.isoformat(), "reminders": reminders, "calendar": calendar}

    # -- sending by request and the delivery log (NTF-05, NTF-06) ----------------------------------
    @rpc
    def send_notification(self, data: dict[str, Any]) -> dict[str, Any]:
        self.caller.require("notification:send")
        with self.uow() as uow:
            uow.on_commit(self.workers.wake)
            return messages.send_notification(uow, self.caller,
                                              schemas.NotificationIn.model_validate(data),
                                              None)

    @rpc
    def send_portal_invite(self, data: dict[str, Any]) -> dict[str, Any]:
        """The gateway's portal invitation, e-mailed to the contact (SVC-07)."""
        self.caller.require("portal:invite")
        with self.uow() as uow:
            uow.on_commit(self.workers.wake)
            return messages.send_portal_invite(uow,
                                               schemas.PortalInviteMail.model_validate(data))

    @rpc
    def list_notification_deliveries(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        self.caller.require("notification:read")
        with self.uow(read_only=True) as uow:
            return messages.list_deliveries(
                uow, schemas.DeliveryQuery.model_validate(query or {}))

    @rpc
    def get_notification_delivery(self, delivery_id: str) -> dict[str, Any]:
        self.caller.require("notification:read")
        with self.uow(read_only=True) as uow:
            return messages.get_delivery(uow, delivery_id)

    @rpc
    def retry_notification_delivery(self, delivery_id: str) -> dict[str, Any]:
        self.caller.require("notification:send")
        with self.uow() as uow:
            uow.on_commit(self.workers.wake)
            return messages.retry_delivery(uow, delivery_id)

    # -- outbound webhooks (NTF-07) ----------------------------------------------------------------
    @rpc
    def create_webhook(self, data: dict[str, Any]) -> dict[str, Any]:
        self.caller.require("webhook:manage")
        with self.uow() as uow:
            return webhooks.create_endpoint(uow, self.caller,
                                            schemas.WebhookIn.model_validate(data),
                                            notify_settings())

    @rpc
    def list_webhooks(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        self.caller.require("webhook:manage")
        with self.uow(read_only=True) as uow:
            return webhooks.list_endpoints(uow, schemas.Query.model_validate(query or {}))

    @rpc
    def get_webhook(self, endpoint_id: str) -> dict[str, Any]:
        self.caller.require("webhook:manage")
        with self.uow(read_only=True) as uow:
            return webhooks.get_endpoint(uow, endpoint_id)

    @rpc
    def update_webhook(self, endpoint_id: str, data: dict[str, Any],
                       expected_version: int | None = None) -> dict[str, Any]:
        self.caller.require("webhook:manage")
        with self.uow() as uow:
            return webhooks.update_endpoint(uow, endpoint_id,
                                            schemas.WebhookUpdate.model_validate(data),
                                            expected_version, notify_settings())

    @rpc
    def delete_webhook(self, endpoint_id: str) -> dict[str, Any]:
        self.caller.require("webhook:manage")
        with self.uow() as uow:
            return webhooks.delete_endpoint(uow, endpoint_id)

    @rpc
    def enable_webhook(self, endpoint_id: str) -> dict[str, Any]:
        self.caller.require("webhook:manage")
        with self.uow() as uow:
            uow.on_commit(self.workers.wake)
            return webhooks.set_endpoint_status(uow, endpoint_id, "enable")

    @rpc
    def disable_webhook(self, endpoint_id: str) -> dict[str, Any]:
        self.caller.require("webhook:manage")
        with self.uow() as uow:
            return webhooks.set_endpoint_status(uow, endpoint_id, "disable")

    @rpc
    def rotate_webhook_secret(self, endpoint_id: str, data: dict[str, Any] | None = None
                              ) -> dict[str, Any]:
        self.caller.require("webhook:manage")
        with self.uow() as uow:
            return webhooks.rotate_secret(uow, endpoint_id,
                                          schemas.RotateSecret.model_validate(data or {}))

    @rpc
    def list_webhook_deliveries(self, endpoint_id: str, query: dict[str, Any] | None = None
                                ) -> dict[str, Any]:
        self.caller.require("webhook:manage")
        with self.uow(read_only=True) as uow:
            return webhooks.list_deliveries(
                uow, endpoint_id, schemas.WebhookDeliveryQuery.model_validate(query or {}))

    @rpc
    def replay_webhook_delivery(self, endpoint_id: str, delivery_id: str) -> dict[str, Any]:
        self.caller.require("webhook:manage")
        with self.uow() as uow:
            uow.on_commit(self.workers.wake)
            return webhooks.replay_delivery(uow, endpoint_id, delivery_id)

    @rpc
    def replay_webhook_deliveries(self, endpoint_id: str, data: dict[str, Any]
                                  ) -> dict[str, Any]:
        self.caller.require("webhook:manage")
        with self.uow() as uow:
            uow.on_commit(self.workers.wake)
            return webhooks.replay_since(uow, endpoint_id,
                                         schemas.ReplaySince.model_validate(data))

    # -- inbound lead capture ----------------------------------------------------------------------
    @rpc
    def create_inbound_source(self, data: dict[str, Any]) -> dict[str, Any]:
        self.caller.require("webhook:manage")
        with self.uow() as uow:
            return webhooks.create_source(uow, schemas.InboundSourceIn.model_validate(data))

    @rpc
    def list_inbound_sources(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        self.caller.require("webhook:manage")
        with self.uow(read_only=True) as uow:
            return webhooks.list_sources(uow, schemas.Query.model_validate(query or {}))

    # -- public (unauthenticated, signed by their senders) -----------------------------------------
    @rpc
    def receive_inbound_lead(self, source: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return webhooks.receive_lead(uow, source,
                                         schemas.PublicRequest.model_validate(data))

    @rpc
    def unsubscribe(self, token: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return messages.unsubscribe(uow, token)

    @rpc
    def receive_provider_receipts(self, provider: str, data: dict[str, Any]
                                  ) -> dict[str, Any]:
        request = schemas.PublicRequest.model_validate(data)
        with self.uow() as uow:
            if provider == "aliyun-sms":
                return messages.aliyun_sms_receipts(uow, notify_settings(), request)
            if provider == "wechat":
                return messages.wechat_receipts(uow, notify_settings(), request)
        raise NotFound(f"no receipts from {provider}", code="unknown_provider")
