"""Duplicate candidates among existing customers (CUS-14): customers the duplicate guard
did not stop, because what they share is not an identity key of both — a phone number or
email address that is one customer's and another's contact's, or two contacts'; a
person's name in the same province and city. Found in SQL over the customers the caller
sees, grouped by what they share, paged in the order of it."""

from __future__ import annotations

from typing import Any

from crm_platform.auth import Caller
from crm_platform.db import is_postgres
from sqlalchemy import Select, distinct, func, literal, select, true
from sqlalchemy.orm import Session

from services.customer.db.models import Contact, Customer
from services.customer.db.queries import visible


def _elements(postgres: bool, column: Any) -> Any:
    """The text elements of a JSON array column, joinable per row."""
    if postgres:
        return func.json_array_elements_text(column).table_valued("value").lateral()
    return func.json_each(column).table_valued("value")  # SQLite correlates it by itself


def _match_keys(s: Session, caller: Caller) -> Any:
    """(key, customer_id) of every active customer in scope: ``phone:``, ``email:`` of the
    customer and its contacts, ``person:`` name|province|city of a person."""
    postgres = is_postgres(s)
    live = Customer.status == "active"
    parts: list[Select[Any]] = []
    for prefix, column, contact_column in (("phone:", Customer.phones, Contact.phones),
                                           ("email:", Customer.emails, Contact.emails)):
        def key(value: Any, prefix: str = prefix) -> Any:
            return literal(prefix) + (func.lower(value) if prefix == "email:" else value)
        own = _elements(postgres, column)
        parts.append(visible(select(key(own.c.value).label("key"),
                                    Customer.id.label("customer_id"))
                             .select_from(Customer).join(own, true()).where(live), caller))
        theirs = _elements(postgres, contact_column)
        parts.append(visible(select(key(theirs.c.value).label("key"),
                                    Contact.customer_id.label("customer_id"))
                             .select_from(Contact).join(Customer,
                                                        Customer.id == Contact.customer_id)
                             .join(theirs, true()).where(live), caller))
    person = (literal("person:") + func.lower(func.trim(Customer.name)) + literal("|")
              + func.coalesce(Customer.province, "") + literal("|")
              + func.coalesce(Customer.city, ""))
    parts.append(visible(select(person.label("key"), Customer.id.label("customer_id"))
                         .where(live, Customer.kind == "person"), caller))
    first, *rest = parts
    return first.union_all(*rest).cte("match_keys")


def candidates(s: Session, caller: Caller, after_key: str | None, size: int,
               customer_id: str | None = None) -> list[tuple[str, list[str]]]:
    """Up to ``size`` shared keys after ``after_key``, each with the ids (sorted) of the
    customers sharing it; with ``customer_id``, only keys that customer has."""
    keys = _match_keys(s, caller)
    postgres = is_postgres(s)
    ids = (func.array_agg(distinct(keys.c.customer_id)) if postgres
           else func.group_concat(distinct(keys.c.customer_id)))
    query = (select(keys.c.key, ids).group_by(keys.c.key)
             .having(func.count(distinct(keys.c.customer_id)) > 1)
             .order_by(keys.c.key).limit(size))
    if after_key is not None:
        query = query.where(keys.c.key > after_key)
    if customer_id is not None:
        mine = keys.alias("mine")
        query = query.where(keys.c.key.in_(
            select(mine.c.key).where(mine.c.customer_id == customer_id)))
    return [(key, sorted(found if postgres else str(found).split(",")))
            for key, found in s.execute(query)]
