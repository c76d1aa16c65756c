"""nameko entrypoints of the documents service: thin adapters onto ``use_cases``.

Besides RPC and events, the process serves the content port (``content.py``): file bytes
stream through it, authorised by tickets these RPCs sign.
"""

from __future__ import annotations

import logging
from typing import Any

from crm_platform.errors import NotFound
from crm_platform.service import CrmService, UnitOfWorkProvider, rpc, timer
from crm_platform.service.calls import call
from crm_platform.service.copies import CustomerCopies, StaffCopies
from crm_platform.uow import UnitOfWork
from nameko.extensions import DependencyProvider
from nameko.rpc import RpcProxy

from gateway.events import UserDeactivated
from services.customer.events import CustomerErased, CustomerMerged
from services.docs import content, schemas
from services.docs.db.models import Base, Customer, Staff, Team
from services.docs.settings import docs_settings
from services.docs.storage import BlobStore, make_store
from services.docs.use_cases import (
    agenda,
    documents,
    handover,
    retention,
    sales_copies,
    sharing,
    versions,
)

# Subscriptions (one place): gateway user.created / updated / deactivated, team.created /
# updated (StaffCopies); customer customer.created / updated / owner_changed / archived /
# merged / erased (CustomerCopies); sales product.* / campaign.* / order.* (sales_copies).

log = logging.getLogger(__name__)
JOB_SECONDS = 30.0
SERVICE_DESK_TIMEOUT = 5.0


class ContentPort(DependencyProvider):  # type: ignore[misc]
    """The blob store (``self.store``) and the content port serving it."""

    def setup(self) -> None:
        self.settings = docs_settings()
        self.store: BlobStore = make_store(self.settings)

    def start(self) -> None:
        uow = next(ext for ext in self.container.extensions
                   if isinstance(ext, UnitOfWorkProvider))
        swept = self.store.sweep_temporary(self.settings.temp_grace_seconds)
        if swept:
            log.info("removed %s temporary blobs of interrupted uploads", swept)
        if self.settings.content_port:
            app = content.ContentApp(uow.make_uow, self.store)
            self.container.spawn_managed_thread(
                lambda: content.serve(app, self.settings.content_host,
                                      self.settings.content_port))

    def get_dependency(self, worker_ctx: Any) -> BlobStore:
        return self.store


class DocsService(CrmService, StaffCopies, CustomerCopies, sales_copies.SalesCopies):
    name = "docs"
    uow = UnitOfWorkProvider(Base.metadata)
    store = ContentPort()
    staff_copy, team_copy, customer_copy = Staff, Team, Customer
    service_desk_rpc = RpcProxy("service_desk")

    # -- calls to the service desk ----------------------------------------------------------
    def _work_order_link(self, work_order_id: str) -> dict[str, Any] | None:
        """A work order a document may be linked to (work photos), asked as the caller;
        ``ServiceUnavailable`` when the service desk does not answer."""
        try:
            return dict(call(self.service_desk_rpc, "get_work_order_link",
                             timeout=SERVICE_DESK_TIMEOUT, work_order_id=work_order_id))
        except NotFound:
            return None

    # -- categories -------------------------------------------------------------------------
    @rpc
    def list_document_categories(self, query: dict[str, Any] | None = None
                                 ) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return documents.list_document_categories(
                uow, schemas.ListQuery.model_validate(query or {}))

    @rpc
    def create_document_category(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return documents.create_document_category(uow, schemas.CategoryIn.model_validate(data))

    @rpc
    def update_document_category(self, code: str, data: dict[str, Any],
                        expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return documents.update_document_category(uow, code,
                                             schemas.CategoryUpdate.model_validate(data),
                                             expected_version)

    # -- documents --------------------------------------------------------------------------
    @rpc
    def create_document(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return documents.create_document(uow, self.caller,
                                             schemas.DocumentIn.model_validate(data),
                                             self._work_order_link)

    @rpc
    def get_document(self, document_id: str) -> dict[str, Any]:
        with self.uow() as uow:
            return documents.get_document(uow, self.caller, document_id)

    @rpc
    def update_document(self, document_id: str, data: dict[str, Any],
                        expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return documents.update_document(uow, self.caller, document_id,
                                             schemas.DocumentUpdate.model_validate(data),
                                             expected_version, self._work_order_link)

    @rpc
    def list_documents(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return documents.list_documents(
                uow, self.caller, schemas.DocumentQuery.model_validate(query or {}))

    @rpc
    def count_documents(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return documents.count_documents(
                uow, self.caller, schemas.DocumentFilters.model_validate(query or {}))

    @rpc
    def customer_documents_summary(self, customer_id: str) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return documents.customer_documents_summary(uow, self.caller, customer_id)

    # -- versions ---------------------------------------------------------------------------
    @rpc
    def list_versions(self, document_id: str, query: dict[str, Any] | None = None
                      ) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return versions.list_versions(uow, self.caller, document_id,
                                          schemas.ListQuery.model_validate(query or {}))

    @rpc
    def authorize_upload(self, document_id: str, data: dict[str, Any],
                         expected_version: int | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return versions.authorize_upload(uow, self.caller, document_id,
                                             schemas.UploadRequest.model_validate(data),
                                             expected_version)

    @rpc
    def authorize_download(self, document_id: str, number: int | str) -> dict[str, Any]:
        with self.uow() as uow:
            return versions.authorize_download(uow, self.caller, document_id,
                                               _number(number))

    @rpc
    def make_version_effective(self, document_id: str, number: int | str,
                               expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return versions.make_effective(uow, self.caller, document_id, _number(number),
                                           expected_version)

    # -- grants, borrowing, access log ------------------------------------------------------
    @rpc
    def list_grants(self, document_id: str, query: dict[str, Any] | None = None
                    ) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return sharing.list_grants(uow, self.caller, document_id,
                                       schemas.ListQuery.model_validate(query or {}))

    @rpc
    def add_grant(self, document_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return sharing.add_grant(uow, self.caller, document_id,
                                     schemas.GrantIn.model_validate(data))

    @rpc
    def remove_grant(self, document_id: str, grant_id: str) -> dict[str, Any]:
        with self.uow() as uow:
            return sharing.remove_grant(uow, self.caller, document_id, grant_id)

    @rpc
    def request_access(self, document_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return sharing.request_access(uow, self.caller, document_id,
                                          schemas.AccessRequestIn.model_validate(data))

    @rpc
    def list_access_requests(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return sharing.list_access_requests(
                uow, self.caller, schemas.AccessRequestQuery.model_validate(query or {}))

    @rpc
    def approve_access_request(self, request_id: str, data: dict[str, Any] | None = None,
                               expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return sharing.approve_access(uow, self.caller, request_id,
                                          schemas.Decision.model_validate(data or {}),
                                          expected_version)

    @rpc
    def reject_access_request(self, request_id: str, data: dict[str, Any] | None = None,
                              expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return sharing.reject_access(uow, self.caller, request_id,
                                         schemas.Decision.model_validate(data or {}),
                                         expected_version)

    @rpc
    def get_access_log(self, document_id: str, query: dict[str, Any] | None = None
                       ) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return sharing.access_log(uow, self.caller, document_id,
                                      schemas.ListQuery.model_validate(query or {}))

    @rpc
    def get_document_clock(self) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return sharing.get_document_clock(uow)

    @rpc
    def set_document_clock(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return sharing.set_document_clock(uow, schemas.ClockIn.model_validate(data))

    @rpc
    def my_agenda(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return agenda.my_agenda(uow, self.caller, query)

    # -- retention and destruction ----------------------------------------------------------
    @rpc
    def list_retention_due(self, query: dict[str, Any]) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return retention.retention_due(uow, self.caller,
                                           schemas.RetentionQuery.model_validate(query))

    @rpc
    def place_legal_hold(self, document_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return retention.set_legal_hold(uow, self.caller, document_id,
                                            schemas.LegalHoldIn.model_validate(data))

    @rpc
    def release_legal_hold(self, document_id: str) -> dict[str, Any]:
        with self.uow() as uow:
            return retention.set_legal_hold(uow, self.caller, document_id, None)

    @rpc
    def request_destruction(self, document_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.uow() as uow:
            return retention.request_destruction(
                uow, self.caller, document_id, schemas.DestructionRequestIn.model_validate(data))

    @rpc
    def list_destruction_requests(self, query: dict[str, Any] | None = None
                                  ) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return retention.list_destruction_requests(
                uow, self.caller, schemas.DestructionRequestQuery.model_validate(query or {}))

    @rpc
    def approve_destruction(self, request_id: str, data: dict[str, Any] | None = None,
                            expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            result = retention.approve_destruction(
                uow, self.caller, request_id, schemas.Decision.model_validate(data or {}),
                expected_version)
        self._remove_destroyed_blobs()
        return result

    @rpc
    def reject_destruction(self, request_id: str, data: dict[str, Any] | None = None,
                           expected_version: int | None = None) -> dict[str, Any]:
        with self.uow() as uow:
            return retention.reject_destruction(
                uow, self.caller, request_id, schemas.Decision.model_validate(data or {}),
                expected_version)

    @rpc
    def list_destruction_records(self, query: dict[str, Any] | None = None
                                 ) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            return retention.list_destruction_records(
                uow, self.caller, schemas.ListQuery.model_validate(query or {}))

    # -- jobs (every replica; rows claimed with SKIP LOCKED) --------------------------------
    @timer(JOB_SECONDS)
    def finish_leftovers(self) -> None:
        """What a crash left: temporary blobs of dead uploads, text not yet extracted,
        bytes of destroyed versions not yet removed."""
        self.store.sweep_temporary(docs_settings().temp_grace_seconds)
        while True:
            with self.uow() as uow:
                pending = versions.pending_extractions(uow.session, 1)
                if not pending:
                    break
                versions.extract_text(uow, self.store, pending[0])
        self._remove_destroyed_blobs()

    def _remove_destroyed_blobs(self) -> None:
        while True:
            with self.uow() as uow:
                checksums = retention.blobs_to_remove(uow, 1)
                if not checksums:
                    return
                retention.remove_blob(uow, self.store, checksums[0])

    # -- hooks of the copies ----------------------------------------------------------------
    def hand_over(self, uow: UnitOfWork, deactivated: UserDeactivated) -> None:
        handover.hand_over(uow, deactivated.id, deactivated.successor_id)

    def customer_merged(self, uow: UnitOfWork, merged: CustomerMerged) -> None:
        documents.move_customer_links(uow, merged.merged_id, merged.survivor_id)

    def customer_erased(self, uow: UnitOfWork, customer: CustomerErased,
                        values: list[str]) -> list[str]:
        documents.scrub_customer_documents(uow, customer.id, values)
        return []


def _number(value: int | str) -> int:
    from crm_platform.errors import NotFound

    try:
        return int(value)
    except (TypeError, ValueError):
        raise NotFound("no such version of the document", code="version_not_found") from None
