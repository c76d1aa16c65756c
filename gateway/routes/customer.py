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
    Route("POST", "/customers/{customer_id}/contacts", "customer", "create_contact",
          "customer:write", body=s.ContactIn, response=s.Contact, status=201,
          tags=("contacts",)),
    Route("GET", "/customers/{customer_id}/contacts", "customer", "list_contacts",
          "customer:read", response=s.ContactPage, tags=("contacts",)),
    Route("GET", "/customers/{customer_id}/contacts/{contact_id}", "customer", "get_contact",
          "customer:read", response=s.Contact, tags=("contacts",)),
    Route("PATCH", "/customers/{customer_id}/contacts/{contact_id}", "customer",
          "update_contact", "customer:write", body=s.ContactUpdate, response=s.Contact,
          if_match=True, tags=("contacts",)),
    Route("DELETE", "/customers/{customer_id}/contacts/{contact_id}", "customer",
          "delete_contact", "customer:write", response=s.Contact, tags=("contacts",)),
    Route("GET", "/customers/{customer_id}/team", "customer", "get_account_team",
          "customer:read", response=s.AccountTeam, tags=("account team",),
          summary="The owner and the staff attached to a key customer"),
    Route("POST", "/customers/{customer_id}/team", "customer", "add_account_team_member",
          "customer:write", body=s.AccountTeamMemberIn, response=s.AccountTeam, status=201,
          tags=("account team",)),
    Route("DELETE", "/customers/{customer_id}/team/{user_id}", "customer",
          "remove_account_team_member", "customer:write", response=s.AccountTeam,
          tags=("account team",)),
    Route("POST", "/customer-categories", "customer", "create_category",
          "customer:configure", body=s.CategoryIn, response=s.Category, status=201,
          tags=("categories",)),
    Route("GET", "/customer-categories", "customer", "list_categories", "customer:read",
          query=s.CategoryQuery, response=s.CategoryPage, tags=("categories",)),
    Route("PATCH", "/customer-categories/{category_id}", "customer", "update_category",
          "customer:configure", body=s.CategoryUpdate, response=s.Category, if_match=True,
          tags=("categories",), summary="Rename or retire a category; history is kept"),
    Route("POST", "/customers/{customer_id}/follow-ups", "customer", "log_followup",
          "followup:write", body=s.FollowupIn, response=s.Followup, status=201,
          tags=("follow-ups",), summary="Log a follow-up; its next date becomes a reminder"),
    Route("GET", "/customers/{customer_id}/follow-ups", "customer", "list_followups",
          "followup:read", query=s.FollowupQuery, response=s.FollowupPage,
          tags=("follow-ups",)),
    Route("GET", "/follow-ups/due", "customer", "list_due_followups", "followup:read",
          query=s.DueFollowupQuery, response=s.FollowupPage, tags=("follow-ups",),
          summary="Open follow-up reminders due by a date (default today)"),
    Route("POST", "/visit-plans", "customer", "create_visit_plan", "visit:write",
          body=s.VisitPlanIn, response=s.VisitPlan, status=201, tags=("visit plans",)),
    Route("GET", "/visit-plans", "customer", "list_visit_plans", "visit:read",
          query=s.VisitPlanQuery, response=s.VisitPlanPage, tags=("visit plans",),
          summary="Visit plans in your scope; overdue=true for the manager's view"),
    Route("GET", "/visit-plans/{plan_id}", "customer", "get_visit_plan", "visit:read",
          response=s.VisitPlan, tags=("visit plans",)),
    Route("POST", "/visit-plans/{plan_id}/actions", "customer", "act_on_visit_plan",
          "visit:write", body=s.VisitAction, response=s.VisitPlan, if_match=True,
          tags=("visit plans",), summary="appoint, record, report; the manager approves "
          "or returns with a comment; archive"),
    Route("GET", "/pool-settings", "customer", "get_pool_settings", "customer:read",
          response=s.PoolSettings, tags=("pool",)),
    Route("PUT", "/pool-settings", "customer", "put_pool_settings", "customer:configure",
          body=s.PoolSettings, response=s.PoolSettings, tags=("pool",)),
]
