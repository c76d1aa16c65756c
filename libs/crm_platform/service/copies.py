"""Event handlers that keep a service's local copies (:mod:`crm_platform.read_models`).

A service mixes in what it copies and names its tables::

    class SalesService(CrmService, StaffCopies, CustomerCopies):
        staff_copy, team_copy, customer_copy = Staff, Team, CustomerCopy

(``ContactCopies`` keeps ``contact_copy`` likewise) and gets the subscriptions (each a
SERVICE_POOL queue of its own, exactly-once through the inbox). The handlers take their
queue's events in batches. A handler that only keeps the copy is a
:func:`~crm_platform.service.entrypoints.copy_handler`: the batch's inbox rows and its
upsert are one statement committed on its own (one round trip on PostgreSQL), so keeping
another copy costs a service little per event. One that does more is a
:func:`~crm_platform.service.entrypoints.batch_event_handler` (one transaction per
batch). What a service does besides keeping the copy goes in a hook, called in the same
transaction only when the event was newer than the copy — so an older
``customer.owner_changed`` handled late never moves records back to a previous owner:

    def customer_owner_changed(self, uow, customer): ...

:meth:`CustomerCopies.fetch_customer` asks the customer service for a customer whose
``customer.created`` has not arrived yet; use cases pass it to
:func:`crm_platform.read_models.copy_of`.
"""

from __future__ import annotations

from typing import Any

from nameko.rpc import RpcProxy
from sqlalchemy import update

from crm_platform.erasure import erasable, scrub_answers, strings
from crm_platform.errors import NotFound
from crm_platform.events import CloudEvent
from crm_platform.read_models import Copied, apply_snapshots, copied, locked_values
from crm_platform.service.calls import call
from crm_platform.service.entrypoints import batch_event_handler, copy_handler, event_handler
from crm_platform.uow import UnitOfWork
from gateway.events import TeamSnapshot, UserDeactivated, UserSnapshot
from services.customer.events import (
    ContactSnapshot,
    CustomerErased,
    CustomerMerged,
    CustomerOwnerChanged,
    CustomerSnapshot,
)


class StaffCopies:
    """``staff_copy`` and ``team_copy`` kept from ``gateway.events``."""

    staff_copy: Any
    team_copy: Any

    @copy_handler("gateway", "user.created")
    def on_user_created(self, events: list[CloudEvent]) -> Copied:
        return copied(self.staff_copy, events, UserSnapshot)

    @copy_handler("gateway", "user.updated")
    def on_user_updated(self, events: list[CloudEvent]) -> Copied:
        return copied(self.staff_copy, events, UserSnapshot)

    @event_handler("gateway", "user.deactivated")
    def on_user_deactivated(self, event: CloudEvent, uow: UnitOfWork) -> None:
        """The user's open records go to the successor (CUS-07): each service moves its
        own in :meth:`hand_over`. The copy marks the user inactive at once (so no rule
        offers them work meanwhile); the ``user.updated`` that comes with the
        deactivation carries the rest."""
        deactivated = event.payload(UserDeactivated)
        table = self.staff_copy.__table__
        uow.session.execute(update(table).where(table.c.id == deactivated.id)
                            .values(is_active=False))
        self.hand_over(uow, deactivated)

    def hand_over(self, uow: UnitOfWork, deactivated: UserDeactivated) -> None:
        """Move ``deactivated.id``'s open records to ``deactivated.successor_id``."""

    @copy_handler("gateway", "team.created")
    def on_team_created(self, events: list[CloudEvent]) -> Copied:
        return copied(self.team_copy, events, TeamSnapshot)

    @copy_handler("gateway", "team.updated")
    def on_team_updated(self, events: list[CloudEvent]) -> Copied:
        return copied(self.team_copy, events, TeamSnapshot)


class CustomerCopies:
    """``customer_copy`` kept from ``customer.events``; ``customer_rpc`` asks the customer
    service for a customer not copied yet (:meth:`fetch_customer`)."""

    customer_copy: Any
    customer_rpc = RpcProxy("customer")
    customer_rpc_timeout = 5.0

    def fetch_customer(self, customer_id: str) -> CustomerSnapshot | None:
        """The customer as the customer service has it now, asked as the caller (so
        None for one out of the caller's scope as for one that does not exist);
        ``ServiceUnavailable`` when it does not answer within ``customer_rpc_timeout``."""
        try:
            found = call(self.customer_rpc, "get_customer_snapshot",
                         timeout=self.customer_rpc_timeout, customer_id=customer_id)
        except NotFound:
            return None
        return CustomerSnapshot.model_validate(found)

    @copy_handler("customer", "customer.created")
    def on_customer_created(self, events: list[CloudEvent]) -> Copied:
        """Only the copy: a created customer has no owner before (a copy fetched ahead
        of this event holds its version or a newer one, so this one is not applied)."""
        return copied(self.customer_copy, events, CustomerSnapshot)

    @batch_event_handler("customer", "customer.updated")
    def on_customer_updated(self, events: list[CloudEvent], uow: UnitOfWork) -> None:
        self._apply_customers(uow, [e.payload(CustomerSnapshot) for e in events])

    @batch_event_handler("customer", "customer.archived")
    def on_customer_archived(self, events: list[CloudEvent], uow: UnitOfWork) -> None:
        self._apply_customers(uow, [e.payload(CustomerSnapshot) for e in events])

    @batch_event_handler("customer", "customer.owner_changed")
    def on_customer_owner_changed(self, events: list[CloudEvent], uow: UnitOfWork) -> None:
        self._apply_customers(uow, [e.payload(CustomerOwnerChanged) for e in events])

    @batch_event_handler("customer", "customer.merged")
    def on_customer_merged(self, events: list[CloudEvent], uow: UnitOfWork) -> None:
        merges = [e.payload(CustomerMerged) for e in events]
        applied = apply_snapshots(uow.session, self.customer_copy, merges,
                                  lambda merged: {"merged_into_id": merged.survivor_id})
        for merged in _newest(merges).values():
            if merged.id in applied:
                self.customer_merged(uow, merged)

    @batch_event_handler("customer", "customer.erased")
    def on_customer_erased(self, events: list[CloudEvent], uow: UnitOfWork) -> None:
        """A person customer erased on request (#26 S8): the copy takes the anonymised
        snapshot (one version on: no older event brings the person back); before it does,
        the values the copy held (name, and phones and e-mails where kept) are read, for
        :meth:`customer_erased` to find and scrub in the service's own records, and for
        the answers the service kept for repeated calls. Handled again, it finds nothing
        left to scrub."""
        erased = [e.payload(CustomerErased) for e in events]
        table = self.customer_copy.__table__
        personal = tuple(name for name in ("name", "phones", "emails") if name in table.c)
        before = locked_values(uow.session, self.customer_copy, [c.id for c in erased],
                               personal)
        apply_snapshots(uow.session, self.customer_copy, erased)
        for customer_id, customer in sorted(_newest(erased).items()):
            values = erasable(strings(*before.get(customer_id, {}).values()))
            values = erasable([*values, *self.customer_erased(uow, customer, values)])
            scrub_answers(uow, values)

    def customer_erased(self, uow: UnitOfWork, customer: CustomerErased,
                        values: list[str]) -> list[str]:
        """Anonymise what this service holds of the erased person besides the copy: the
        records that point at ``customer.id`` and text holding any of ``values`` (what
        the copy held). Returns further values of the person found in those records (a
        converted lead's contact name), scrubbed from the kept answers too."""
        return []

    def customer_owner_changed(self, uow: UnitOfWork, customer: CustomerSnapshot) -> None:
        """Records that follow the customer's owner move to ``customer.owner_id`` here
        (open opportunities…)."""

    def customer_merged(self, uow: UnitOfWork, merged: CustomerMerged) -> None:
        """References to ``merged.merged_id`` move to ``merged.survivor_id`` here."""

    def _apply_customers(self, uow: UnitOfWork, customers: list[CustomerSnapshot]) -> None:
        # the previous owners are read (and the rows locked) only by services that move
        # records with the owner
        watching = type(self).customer_owner_changed is not CustomerCopies.customer_owner_changed
        before = locked_values(uow.session, self.customer_copy, [c.id for c in customers],
                               ("owner_id",)) if watching else {}
        applied = apply_snapshots(uow.session, self.customer_copy, customers)
        if not watching:
            return
        for customer_id, customer in sorted(_newest(customers).items()):
            held = before.get(customer_id)
            if customer_id in applied and held is not None \
                    and held["owner_id"] != customer.owner_id:
                self.customer_owner_changed(uow, customer)


def _newest(snapshots: list[Any]) -> dict[str, Any]:
    """Of several snapshots of one record in a batch, the newest (the one applied)."""
    newest: dict[str, Any] = {}
    for snapshot in snapshots:
        if snapshot.id not in newest or newest[snapshot.id].version < snapshot.version:
            newest[snapshot.id] = snapshot
    return newest


class ContactCopies:
    """``contact_copy`` kept from ``customer.events`` (customers' contact persons)."""

    contact_copy: Any

    @copy_handler("customer", "contact.created")
    def on_contact_created(self, events: list[CloudEvent]) -> Copied:
        return copied(self.contact_copy, events, ContactSnapshot)

    @copy_handler("customer", "contact.updated")
    def on_contact_updated(self, events: list[CloudEvent]) -> Copied:
        return copied(self.contact_copy, events, ContactSnapshot)

    @copy_handler("customer", "contact.deleted")
    def on_contact_deleted(self, events: list[CloudEvent]) -> Copied:
        return copied(self.contact_copy, events, ContactSnapshot,
                      lambda _deleted: {"is_deleted": True})

    @batch_event_handler("customer", "contact.erased")
    def on_contact_erased(self, events: list[CloudEvent], uow: UnitOfWork) -> None:
        """The person's data erased on request (#26 S8): the anonymised snapshot is one
        version on, so it replaces what the copy held and no older event brings it back.
        The values the copy held go to :meth:`contact_erased` and scrub the answers kept
        for repeated calls, as for an erased customer."""
        erased = [e.payload(ContactSnapshot) for e in events]
        before = locked_values(uow.session, self.contact_copy, [c.id for c in erased],
                               ("name", "phones", "email", "wechat_openid"))
        apply_snapshots(uow.session, self.contact_copy, erased)
        for contact_id, contact in sorted(_newest(erased).items()):
            values = erasable(strings(*before.get(contact_id, {}).values()))
            self.contact_erased(uow, contact, values)
            scrub_answers(uow, values)

    def contact_erased(self, uow: UnitOfWork, contact: ContactSnapshot,
                       values: list[str]) -> None:
        """Anonymise what this service holds of the erased contact besides the copy."""


def move_contacts(uow: UnitOfWork, contact_copy: Any, merged: CustomerMerged) -> None:
    """A merged customer's contacts now belong to the survivor (the customer service
    moves them without contact events)."""
    table = contact_copy.__table__
    uow.session.execute(update(table).where(table.c.customer_id == merged.merged_id)
                        .values(customer_id=merged.survivor_id))
