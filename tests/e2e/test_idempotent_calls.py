"""A create whose answer the gateway lost is applied once when the client retries it
under the same Idempotency-Key: the service kept the answer with the key."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from tests.support.platform import Platform


def _forget_in_gateway(platform: Platform, key: str) -> None:
    """What the gateway does when a call's answer is lost on the way back (a time-out, a
    broken connection): it lets the key go, so that the client's retry goes on."""
    gateway = sa.create_engine(platform.db_urls["gateway"])
    try:
        with gateway.begin() as conn:
            forgotten = conn.execute(sa.text(
                "DELETE FROM idempotency_keys WHERE key = :key"), {"key": key}).rowcount
    finally:
        gateway.dispose()
    assert forgotten == 1


def test_a_create_retried_after_the_gateway_lost_its_answer_is_applied_once(
        platform: Platform) -> None:
    key = uuid.uuid4().hex
    name = f"重试{key[:6]}科技有限公司"
    body = {"name": name, "kind": "company"}
    with platform.admin() as admin:
        first = admin.post("/api/v1/customers", json=body, headers={"Idempotency-Key": key})
        assert first.status_code == 201, first.text
        _forget_in_gateway(platform, key)
        again = admin.post("/api/v1/customers", json=body, headers={"Idempotency-Key": key})
        assert again.status_code == 201, again.text
        assert again.json()["id"] == first.json()["id"]
        assert again.json()["code"] == first.json()["code"]
        found = admin.get("/api/v1/customers", params={"q": name, "limit": 50}).json()["items"]
        assert [c["id"] for c in found if c["name"] == name] == [first.json()["id"]]
        # the same key for another request is another call, refused by the gateway as before
        other = admin.post("/api/v1/customers", json={**body, "name": name + "二"},
                           headers={"Idempotency-Key": key})
        assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"


def test_a_create_applied_by_a_process_that_died_before_answering_says_so(
        platform: Platform) -> None:
    key = uuid.uuid4().hex
    body = {"name": f"失联{key[:6]}贸易有限公司", "kind": "company"}
    with platform.admin() as admin:
        first = admin.post("/api/v1/customers", json=body, headers={"Idempotency-Key": key})
        assert first.status_code == 201, first.text
        _forget_in_gateway(platform, key)
        # the state a customer service killed between its commit and keeping the answer
        # leaves, a minute and more ago
        customer = sa.create_engine(platform.db_urls["customer"])
        try:
            with customer.begin() as conn:
                lost = conn.execute(sa.text(
                    "UPDATE rpc_answers SET answer = NULL, created_at = now() - interval "
                    "'2 minutes' WHERE method = 'create_customer' AND answer LIKE :id"),
                    {"id": f'%{first.json()["id"]}%'}).rowcount
        finally:
            customer.dispose()
        assert lost == 1
        again = admin.post("/api/v1/customers", json=body, headers={"Idempotency-Key": key})
        assert again.status_code == 409, again.text
        assert again.json()["code"] == "idempotency_answer_lost"
        assert again.headers["content-type"].startswith("application/problem+json")
