"""Customer service operations (CUS-01 … CUS-16), one line each."""

from __future__ import annotations

from pydantic import BaseModel, Field

from gateway.routetable import Route
from services.customer import schemas as s


class HistoryQuery(BaseModel):
    limit: int | None = Field(None, ge=1, le=500)
    cursor: str | None = None


TAGS = ("customers",)

ROUTES = [
    Route("POST", "/customers", "customer", "create_customer", "customer:write",
          body=s.CustomerCreate, response=s.Customer, status=201, tags=TAGS,
          summary="Create a customer; a duplicate is refused with 409 naming its owner"),
    Route("GET", "/customers", "customer", "list_customers", "customer:read",
          query=s.CustomerQuery, response=s.CustomerPage, tags=TAGS,
          summary="List and search customers in your scope"),
    Route("POST", "/customers/handover", "customer", "handover_customers",
          "customer:handover", body=s.HandoverRequest, response=s.HandoverResult, tags=TAGS,
          summary="Move all customers, open follow-ups and visit plans of one user to another"),
    Route("GET", "/customers/{customer_id}", "customer", "get_customer", "customer:read",
          response=s.Customer, tags=TAGS, audit_read=True, summary="Read a customer archive"),
    Route("PATCH", "/customers/{customer_id}", "customer", "update_customer",
          "customer:write", body=s.CustomerUpdate, response=s.Customer, if_match=True,
          tags=TAGS, summary="Update a customer (If-Match: its version)"),
    Route("DELETE", "/customers/{customer_id}", "customer", "archive_customer",
          "customer:write", response=s.Customer, if_match=True, tags=TAGS,
          summary="Archive (soft-delete) a customer"),
    Route("GET", "/customers/{customer_id}/history", "customer", "get_customer_history",
          "customer:read", query=HistoryQuery, response=s.HistoryPage, tags=TAGS,
          summary="Field and ownership changes with who and when"),
    Route("POST", "/customers/{customer_id}/claim", "customer", "claim_customer",
          "customer:claim", response=s.Customer, tags=TAGS,
          summary="Claim a customer from the public pool"),
    Route("POST", "/customers/{customer_id}/release", "customer", "release_customer",
          "customer:claim", response=s.Customer, tags=TAGS,
          summary="Release a customer to the public pool"),
    Route("POST", "/customers/{customer_id}/transfer", "customer", "transfer_customer",
          "customer:transfer", body=s.TransferRequest, response=s.Customer, tags=TAGS,
          summary="Give a customer to another salesperson"),
    Route("GET", "/pool-settings", "customer", "get_pool_settings", "customer:read",
          response=s.PoolSettings, tags=("pool",)),
    Route("PUT", "/pool-settings", "customer", "put_pool_settings", "customer:configure",
          body=s.PoolSettings, response=s.PoolSettings, tags=("pool",)),
]
