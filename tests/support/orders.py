"""Many orders through the gateway, for the billing reliability test and benchmark: a
rep with customers and a product, orders created and confirmed by concurrent clients,
confirmations retried while billing is down (a 503 leaves the order unconfirmed)."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.platform import Platform


@dataclass
class Seller:
    token: str
    product_id: str
    customer_ids: list[str]


def seller(platform: Platform, customers: int = 20) -> Seller:
    rep = platform.new_user(["sales_rep"], display_name="批量销售")
    with platform.admin() as admin:
        product = admin.post("/api/v1/products", json={
            "code": f"B-{uuid.uuid4().hex[:6]}", "name": "批量产品", "unit": "件",
            "currency": "CNY", "list_price": "99.90", "tax_rate": "0.13"})
        product.raise_for_status()
    ids = []
    with platform.client(rep["token"]) as c:
        for _ in range(customers):
            r = c.post("/api/v1/customers", json={"name": f"批量客户{uuid.uuid4().hex[:8]}",
                                                  "kind": "person"})
            r.raise_for_status()
            ids.append(r.json()["id"])
    return Seller(rep["token"], product.json()["id"], ids)


def _client(platform: Platform, token: str) -> httpx.Client:
    return httpx.Client(base_url=platform.base_url, timeout=60,
                        headers={"Authorization": f"Bearer {token}"})


def create_orders(platform: Platform, who: Seller, n: int, concurrency: int = 8) -> list[str]:
    def one(i: int) -> str:
        with _client(platform, who.token) as c:
            r = c.post("/api/v1/orders", json={
                "customer_id": who.customer_ids[i % len(who.customer_ids)], "currency": "CNY",
                "lines": [{"product_id": who.product_id, "quantity": str(1 + i % 5)}],
                "payment_terms": {"installments": [{"percent": "30", "due_days": 0},
                                                   {"percent": "70", "due_days": 60}]}})
            r.raise_for_status()
            return str(r.json()["id"])
    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, range(n)))


def confirm_orders(platform: Platform, who: Seller, order_ids: list[str],
                   concurrency: int = 8, give_up_after: float = 120) -> dict[str, Any]:
    """Confirm each order, retrying 503s (billing down) until it is confirmed; returns
    counts and the wall time."""
    retries = [0]

    def one(order_id: str) -> None:
        deadline = time.monotonic() + give_up_after
        with _client(platform, who.token) as c:
            while True:
                try:
                    r = c.post(f"/api/v1/orders/{order_id}/confirm")
                except httpx.TransportError:
                    r = None
                if r is not None and r.status_code == 200:
                    return
                if r is not None and r.status_code == 409 and \
                        c.get(f"/api/v1/orders/{order_id}").json()["status"] == "confirmed":
                    return  # an earlier attempt went through after its reply was lost
                if r is not None and r.status_code not in (409, 502, 503, 504):
                    raise AssertionError(f"confirming {order_id}: {r.status_code} {r.text}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"order {order_id} not confirmed")
                retries[0] += 1
                time.sleep(0.2)
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, order_ids))
    return {"confirmed": len(order_ids), "retries": retries[0],
            "seconds": time.perf_counter() - started}
