"""nameko entrypoints of the customer service: thin adapters onto ``use_cases``."""

from __future__ import annotations

from typing import Any

from crm_platform.events import CloudEvent
from crm_platform.service import CrmService, UnitOfWorkProvider, event_handler, rpc, timer
from crm_platform.uow import UnitOfWork

from services.customer import schemas
from services.customer.db.models import Base
from services.customer.use_cases import customers as use_cases

# Subscriptions (one place): gateway user.created / user.updated / user.deactivated,
# team.created / team.updated.


class CustomerService(CrmService):
    name = "customer"
    uow = UnitOfWorkProvider(Base.metadata)

    # -- customers ----------------------------------------------------------------------
    @rpc
    def create_customer(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return use_cases.create_customer(uow, self.caller,
                                             schemas.CustomerCreate.model_validate(data))

    @rpc
    def get_customer(self, customer_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return use_cases.get_customer(uow, self.caller, customer_id)

    @rpc
    def list_customers(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return use_cases.list_customers(
                uow, self.caller, schemas.CustomerQuery.model_validate(query or {}))

    @rpc
    def update_customer(self, customer_id: str, data: dict[str, Any],
                        expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return use_cases.update_customer(uow, self.caller, customer_id,
                                             schemas.CustomerUpdate.model_validate(data),
                                             expected_version)

    @rpc
    def archive_customer(self, customer_id: str,
                         expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return use_cases.archive_customer(uow, self.caller, customer_id, expected_version)

    @rpc
    def get_customer_history(self, customer_id: str,
                             query: dict[str, Any] | None = None) -> dict[str, Any]:
        q = query or {}
        with self.uow() as uow:
            return use_cases.customer_history(uow, self.caller, customer_id, q.get("limit"),
                                              q.get("cursor"))

    # -- ownership ----------------------------------------------------------------------
    @rpc
    def claim_customer(self, customer_id: str) -> dict[str, Any]:
        with self.uow() as uow:
            return use_cases.claim_customer(uow, self.caller, customer_id)

    @rpc
    def release_customer(self, customer_id: str) -> dict[str, Any]:
        with self.uow() as uow:
            return use_cases.release_customer(uow, self.caller, customer_id)

    @rpc
    def transfer_customer(self, customer_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return use_cases.transfer_customer(uow, self.caller, customer_id,
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

    # -- gateway identity events --------------------------------------------------------
    @event_handler("gateway", "user.created")
    def on_user_created(self, event: CloudEvent, uow: UnitOfWork) -> None:
        use_cases.upsert_staff(uow, event.data)

    @event_handler("gateway", "user.updated")
    def on_user_updated(self, event: CloudEvent, uow: UnitOfWork) -> None:
        use_cases.upsert_staff(uow, event.data)

    @event_handler("gateway", "user.deactivated")
    def on_user_deactivated(self, event: CloudEvent, uow: UnitOfWork) -> None:
        use_cases.handover(uow, event.data["id"], event.data["successor_id"])

    @event_handler("gateway", "team.created")
    def on_team_created(self, event: CloudEvent, uow: UnitOfWork) -> None:
        use_cases.upsert_team(uow, event.data)

    @event_handler("gateway", "team.updated")
    def on_team_updated(self, event: CloudEvent, uow: UnitOfWork) -> None:
        use_cases.upsert_team(uow, event.data)
