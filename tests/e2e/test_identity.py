"""Identity, authentication and the gateway's cross-cutting rules, end to end."""

from __future__ import annotations

import uuid

import jwt
import pytest

from gateway.routes import service_routes
from tests.support.infra import wait_until
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e


def _is_problem(r: object, status: int, code: str | None = None) -> dict[str, object]:
    assert r.status_code == status, r.text  # type: ignore[attr-defined]
    assert r.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    body = r.json()  # type: ignore[attr-defined]
    assert body["status"] == status and "detail" in body and "code" in body
    if code:
        assert body["code"] == code, body
    return dict(body)


def test_login_me_and_refresh(platform: Platform) -> None:
    with platform.client() as c:
        r = c.post("/api/v1/auth/token", data={"username": "admin",
                                               "password": "e2e-admin-password"})
        assert r.status_code == 200
        tokens = r.json()
        assert tokens["token_type"] == "bearer" and tokens["expires_in"] > 0
        me = c.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert me.status_code == 200 and me.json()["username"] == "admin"
        assert "password_hash" not in me.json()
        assert me.json()["permissions"]["user:manage"] == "all"
        refreshed = c.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert refreshed.status_code == 200 and refreshed.json()["access_token"]
        # an access token is not a refresh token
        _is_problem(c.post("/api/v1/auth/refresh",
                           json={"refresh_token": tokens["access_token"]}), 401)


def test_wrong_password_and_missing_token(platform: Platform) -> None:
    with platform.client() as c:
        _is_problem(c.post("/api/v1/auth/token", data={"username": "admin", "password": "x"}),
                    401, "invalid_credentials")
        _is_problem(c.post("/api/v1/auth/token", data={"username": "nobody", "password": "x"}),
                    401, "invalid_credentials")
        _is_problem(c.get("/api/v1/me"), 401, "unauthorized")
        _is_problem(c.get("/api/v1/me", headers={"Authorization": "Bearer junk"}), 401,
                    "invalid_token")
        # the route table's operations authenticate the same way
        _is_problem(c.get("/api/v1/customers"), 401, "unauthorized")
        _is_problem(c.get("/api/v1/customers", headers={"Authorization": "Basic junk"}), 401,
                    "unauthorized")
        _is_problem(c.get("/api/v1/customers", headers={"Authorization": "Bearer junk"}),
                    401, "invalid_token")
        _is_problem(c.get("/api/v1/customers", headers={"X-API-Key": "junk"}), 401,
                    "invalid_api_key")


def test_a_token_of_one_user_cannot_act_as_another(platform: Platform) -> None:
    alice = platform.new_user(["sales_rep"])
    bob = platform.new_user(["sales_rep"])
    with platform.client(alice["token"]) as c:
        assert c.get("/api/v1/me").json()["id"] == alice["id"]
        # a rep may not manage users, nor give themself roles
        _is_problem(c.post("/api/v1/users", json={"username": "x1", "password": "password-1",
                                                  "display_name": "x", "roles": ["admin"]}),
                    403, "permission_denied")
        _is_problem(c.patch(f"/api/v1/users/{alice['id']}", json={"roles": ["admin"]}), 403)
    # re-signing the token for bob without the secret fails
    claims = jwt.decode(alice["token"], options={"verify_signature": False})
    # (32+ characters, as the gateway demands of its own, so PyJWT does not warn)
    forged = jwt.encode({**claims, "sub": bob["id"]}, "a-guessed-secret-of-32-characters",
                        algorithm="HS256")
    with platform.client(forged) as c:
        _is_problem(c.get("/api/v1/me"), 401, "invalid_token")
    # an unsigned token is refused too
    unsigned = jwt.encode({**claims, "sub": bob["id"]}, key=None, algorithm="none")  # type: ignore[arg-type]
    with platform.client(unsigned) as c:
        _is_problem(c.get("/api/v1/me"), 401, "invalid_token")


def test_deactivation_stops_tokens_and_api_keys_at_once(platform: Platform) -> None:
    leaver = platform.new_user(["sales_rep"])
    successor = platform.new_user(["sales_rep"])
    with platform.client(leaver["token"]) as c:
        r = c.post("/api/v1/api-keys", json={"name": "my script"})
        assert r.status_code == 201, r.text
        key = r.json()["key"]
        assert c.get("/api/v1/me").status_code == 200
    with platform.client(**{"X-API-Key": key}) as c:
        assert c.get("/api/v1/me").json()["id"] == leaver["id"]
    with platform.admin() as admin:
        r = admin.post(f"/api/v1/users/{leaver['id']}/deactivate",
                       json={"successor_id": successor["id"]})
        assert r.status_code == 200, r.text
        assert r.json()["is_active"] is False and r.json()["successor_id"] == successor["id"]
        _is_problem(admin.post(f"/api/v1/users/{successor['id']}/deactivate",
                               json={"successor_id": successor["id"]}), 422, "invalid_successor")
    with platform.client(leaver["token"]) as c:
        _is_problem(c.get("/api/v1/me"), 401)
    with platform.client(**{"X-API-Key": key}) as c:
        _is_problem(c.get("/api/v1/me"), 401)
    with platform.client() as c:
        _is_problem(c.post("/api/v1/auth/token", data={"username": leaver["username"],
                                                       "password": "password-123"}), 401,
                    "account_deactivated")


def test_api_key_scopes_and_revocation(platform: Platform) -> None:
    user = platform.new_user(["sales_rep"])
    with platform.client(user["token"]) as c:
        r = c.post("/api/v1/api-keys", json={"name": "read only", "scopes": ["user:read"]})
        assert r.status_code == 201, r.text
        key_id, key = r.json()["id"], r.json()["key"]
        listed = c.get("/api/v1/api-keys").json()["items"]
        assert [k["id"] for k in listed] == [key_id] and "key" not in listed[0]
        _is_problem(c.post("/api/v1/api-keys", json={"name": "x", "scopes": ["user:manage"]}),
                    403)
    with platform.client(**{"X-API-Key": key}) as c:
        assert c.get("/api/v1/users").status_code == 200
        _is_problem(c.get("/api/v1/customers"), 403, "permission_denied")
    with platform.client(user["token"]) as c:
        assert c.post(f"/api/v1/api-keys/{key_id}/revoke").json()["revoked_at"]
    with platform.client(**{"X-API-Key": key}) as c:
        _is_problem(c.get("/api/v1/users"), 401, "api_key_revoked")
    with platform.client(**{"X-API-Key": key[:-3] + "abc"}) as c:
        _is_problem(c.get("/api/v1/users"), 401, "invalid_api_key")


def test_bad_input_is_a_4xx_problem(platform: Platform) -> None:
    with platform.admin() as c:
        r = c.post("/api/v1/teams", content=b'{"name": "x",', headers={
            "Content-Type": "application/json"})
        _is_problem(r, 400, "malformed_json")
        body = _is_problem(c.post("/api/v1/teams", json={"name": 123}), 422, "validation_failed")
        assert body["errors"][0]["field"] == "name"  # type: ignore[index]
        body = _is_problem(c.post("/api/v1/teams", json={"name": "t", "colour": "red"}), 422)
        assert any(e["field"] == "colour" for e in body["errors"])  # type: ignore[union-attr]
        _is_problem(c.post("/api/v1/users", json={"username": "a b", "password": "short",
                                                  "display_name": "", "roles": ["pope"]}), 422)
        _is_problem(c.post("/api/v1/teams", content=b"x" * 2_000_000,
                           headers={"Content-Type": "application/json"}), 413,
                    "payload_too_large")
        _is_problem(c.get("/api/v1/users/does-not-exist"), 404)
        _is_problem(c.get("/api/v1/no-such-route"), 404)
        _is_problem(c.get("/api/v1/users", params={"limit": "many"}), 422)
        _is_problem(c.get("/api/v1/users", params={"cursor": "%%%"}), 400, "invalid_cursor")


def test_teams_hierarchy_scope_and_etag(platform: Platform) -> None:
    with platform.admin() as c:
        root = c.post("/api/v1/teams", json={"name": f"销售部-{uuid.uuid4().hex[:4]}"}).json()
        child = c.post("/api/v1/teams", json={"name": "华东区", "parent_id": root["id"],
                                              "kind": "region"}).json()
        _is_problem(c.patch(f"/api/v1/teams/{root['id']}", json={"parent_id": child["id"]}),
                    422, "team_cycle")
        got = c.get(f"/api/v1/teams/{root['id']}")
        assert got.headers["etag"] == f'"{root["version"]}"'
        ok = c.patch(f"/api/v1/teams/{root['id']}", json={"name": "销售一部"},
                     headers={"If-Match": got.headers["etag"]})
        assert ok.status_code == 200 and ok.json()["version"] == root["version"] + 1
        _is_problem(c.patch(f"/api/v1/teams/{root['id']}", json={"name": "stale"},
                            headers={"If-Match": got.headers["etag"]}), 412, "stale_version")
    manager = platform.new_user(["sales_manager"], team_id=root["id"])
    rep = platform.new_user(["sales_rep"], team_id=child["id"])
    with platform.client(manager["token"]) as c:
        me = c.get("/api/v1/me").json()
        assert set(me["team_ids"]) == {root["id"], child["id"]}
        assert me["permissions"]["customer:read"] == "team"
    with platform.client(rep["token"]) as c:
        assert c.get("/api/v1/me").json()["permissions"]["customer:read"] == "own"


def test_idempotency_key_replays_the_first_response(platform: Platform) -> None:
    key = uuid.uuid4().hex
    name = f"幂等-{key[:6]}"
    with platform.admin() as c:
        first = c.post("/api/v1/teams", json={"name": name}, headers={"Idempotency-Key": key})
        again = c.post("/api/v1/teams", json={"name": name}, headers={"Idempotency-Key": key})
        assert first.status_code == again.status_code == 201
        assert first.json()["id"] == again.json()["id"]
        assert again.headers.get("idempotent-replayed") == "true"
        _is_problem(c.post("/api/v1/teams", json={"name": "other"},
                           headers={"Idempotency-Key": key}), 422, "idempotency_key_reused")
        teams = c.get("/api/v1/teams", params={"limit": 500}).json()["items"]
        assert sum(t["name"] == name for t in teams) == 1


def test_audit_log_records_writes_and_is_admin_only(platform: Platform) -> None:
    rep = platform.new_user(["sales_rep"])
    with platform.client(rep["token"]) as c:
        _is_problem(c.post("/api/v1/teams", json={"name": "nope"}), 403)
        _is_problem(c.get("/api/v1/audit-log"), 403)
    with platform.admin() as c:
        def denied_entries() -> list[dict[str, object]]:
            entries = c.get("/api/v1/audit-log", params={"actor_id": rep["id"]}).json()["items"]
            return [e for e in entries if e["action"] == "create_team"]

        denied = wait_until(denied_entries, 10, "audit entry")  # written in batches
        assert denied[0]["outcome"] == "denied" and denied[0]["status"] == 403
        created = c.get("/api/v1/audit-log", params={"action": "create_user"}).json()["items"]
        assert any(e["resource_id"] == rep["id"] for e in created)


def test_openapi_lists_identity_operations_with_models(platform: Platform) -> None:
    with platform.client() as c:
        spec = c.get("/openapi.json").json()
        ops = {op["operationId"] for path in spec["paths"].values() for op in path.values()}
        assert {"login", "get_me", "create_user", "deactivate_user", "create_team",
                "create_api_key", "list_audit_log", "create_customer"} <= ops
        create_user = spec["paths"]["/api/v1/users"]["post"]
        ref = create_user["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith("/UserCreate")
        assert "User" in spec["components"]["schemas"]
        # every operation but the login, the token refresh, accepting a portal invitation
        # (the token is the credential) and the operations signed by their senders
        # (inbound webhooks, receipts, unsubscribe links) says how to authenticate
        schemes = set(spec["components"]["securitySchemes"])
        public = {r.rpc for r in service_routes() if r.public}
        for path, item in spec["paths"].items():
            for method, op in item.items():
                if op["operationId"] not in ("login", "refresh_token", "accept_portal_invite",
                                             *public):
                    assert {k for s in op.get("security", []) for k in s} == schemes, \
                        (method, path)
        assert c.get("/docs").status_code == 200


def test_health_and_metrics(platform: Platform) -> None:
    with platform.client() as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        assert c.get("/readyz").json()["ready"] is True
        assert "crm_http_request_duration_seconds" in c.get("/metrics").text
