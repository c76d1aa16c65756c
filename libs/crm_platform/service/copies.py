"""Event handlers that keep a service's local copies (:mod:`crm_platform.read_models`).

A service mixes in what it copies and names its tables::

    class SalesService(CrmService, StaffCopies, CustomerCopies):
        staff_copy, team_copy, customer_copy = Staff, Team, CustomerCopy

and gets the subscriptions (each a SERVICE_POOL queue of its own, exactly-once through
the inbox). What a service does besides keeping the copy goes in a hook, called in the
same transaction only when the event was newer than the copy — so an older
``customer.owner_changed`` handled late never moves records back to a previous owner:

    def customer_owner_changed(self, uow, customer): ...
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from crm_platform.events import CloudEvent
from crm_platform.read_models import apply_snapshot, locked_values
from crm_platform.service.entrypoints import event_handler
from crm_platform.uow import UnitOfWork
from gateway.events import TeamSnapshot, UserDeactivated, UserSnapshot
from services.customer.events import (
    ContactDeleted,
    ContactSnapshot,
    CustomerMerged,
    CustomerOwnerChanged,
    CustomerSnapshot,
)


class StaffCopies:
    """``staff_copy`` and ``team_copy`` kept from ``gateway.events``."""

    staff_copy: Any
    team_copy: Any

    @event_handler("gateway", "user.created")
    def on_user_created(self, event: CloudEvent, uow: UnitOfWork) -> None:
        apply_snapshot(uow.session, self.staff_copy, event.payload(UserSnapshot))

    @event_handler("gateway", "user.updated")
    def on_user_updated(self, event: CloudEvent, uow: UnitOfWork) -> None:
        apply_snapshot(uow.session, self.staff_copy, event.payload(UserSnapshot))

    @event_handler("gateway", "user.deactivated")
    def on_user_deactivated(self, event: CloudEvent, uow: UnitOfWork) -> None:
        """The user's open records go to the successor (CUS-07): each service moves its
        own in :meth:`hand_over`."""
        self.hand_over(uow, event.payload(UserDeactivated))

    def hand_over(self, uow: UnitOfWork, deactivated: UserDeactivated) -> None:
        """Move ``deactivated.id``'s open records to ``deactivated.successor_id``."""

    @event_handler("gateway", "team.created")
    def on_team_created(self, event: CloudEvent, uow: UnitOfWork) -> None:
        apply_snapshot(uow.session, self.team_copy, event.payload(TeamSnapshot))

    @event_handler("gateway", "team.updated")
    def on_team_updated(self, event: CloudEvent, uow: UnitOfWork) -> None:
        apply_snapshot(uow.session, self.team_copy, event.payload(TeamSnapshot))


class CustomerCopies:
    """``customer_copy`` kept from ``customer.events``."""

    customer_copy: Any

    @event_handler("customer", "customer.created")
    def on_customer_created(self, event: CloudEvent, uow: UnitOfWork) -> None:
        self._apply_customer(uow, event.payload(CustomerSnapshot))

    @event_handler("customer", "customer.updated")
    def on_customer_updated(self, event: CloudEvent, uow: UnitOfWork) -> None:
        self._apply_customer(uow, event.payload(CustomerSnapshot))

    @event_handler("customer", "customer.archived")
    def on_customer_archived(self, event: CloudEvent, uow: UnitOfWork) -> None:
        self._apply_customer(uow, event.payload(CustomerSnapshot))

    @event_handler("customer", "customer.owner_changed")
    def on_customer_owner_changed(self, event: CloudEvent, uow: UnitOfWork) -> None:
        self._apply_customer(uow, event.payload(CustomerOwnerChanged))

    @event_handler("customer", "customer.merged")
    def on_customer_merged(self, event: CloudEvent, uow: UnitOfWork) -> None:
        merged = event.payload(CustomerMerged)
        if apply_snapshot(uow.session, self.customer_copy, merged,
                          merged_into_id=merged.survivor_id):
            self.customer_merged(uow, merged)

    def customer_owner_changed(self, uow: UnitOfWork, customer: CustomerSnapshot) -> None:
        """Records that follow the customer's owner move to ``customer.owner_id`` here
        (open opportunities…)."""

    def customer_merged(self, uow: UnitOfWork, merged: CustomerMerged) -> None:
        """References to ``merged.merged_id`` move to ``merged.survivor_id`` here."""

    def _apply_customer(self, uow: UnitOfWork, customer: CustomerSnapshot) -> None:
        # the previous owner is read (and the row locked) only by services that move
        # records with the owner
        watching = type(self).customer_owner_changed is not CustomerCopies.customer_owner_changed
        before = locked_values(uow.session, self.customer_copy, customer.id, ("owner_id",)) \
            if watching else None
        applied = apply_snapshot(uow.session, self.customer_copy, customer)
        if applied and before is not None and before["owner_id"] != customer.owner_id:
            self.customer_owner_changed(uow, customer)


class ContactCopies:
    """``contact_copy`` kept from ``customer.events`` (``contact.*``). A merged customer's
    contacts move to the survivor in the customer service without events of their own:
    a service that also copies customers moves them in its ``customer_merged`` hook
    (:func:`move_contacts`)."""

    contact_copy: Any

    @event_handler("customer", "contact.created")
    def on_contact_created(self, event: CloudEvent, uow: UnitOfWork) -> None:
        apply_snapshot(uow.session, self.contact_copy, event.payload(ContactSnapshot))

    @event_handler("customer", "contact.updated")
    def on_contact_updated(self, event: CloudEvent, uow: UnitOfWork) -> None:
        apply_snapshot(uow.session, self.contact_copy, event.payload(ContactSnapshot))

    @event_handler("customer", "contact.deleted")
    def on_contact_deleted(self, event: CloudEvent, uow: UnitOfWork) -> None:
        apply_snapshot(uow.session, self.contact_copy, event.payload(ContactDeleted),
                       deleted=True)


def move_contacts(uow: UnitOfWork, contact_copy: Any, merged: CustomerMerged) -> None:
    table = contact_copy.__table__
    uow.session.execute(update(table).where(table.c.customer_id == merged.merged_id)
                        .values(customer_id=merged.survivor_id))
