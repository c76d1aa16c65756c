"""S3, tokens and sign-in: every token the gateway did not issue, or issued for something
else, or that has been revoked since, is a 401 problem+json; passwords are stored with
argon2id; failed sign-ins are throttled (429 with ``Retry-After``).

The bad tokens are signed with the platform's real secret wherever the point is a claim
(expired, not yet valid, another audience, another type), so only the claim check can
refuse them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import psycopg2
import pytest
from crm_platform.settings import DEV_SECRET
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.platform import Platform
from tests.support.problems import expect_problem

pytestmark = [pytest.mark.e2e,
              # HS512 signed with the real (HS256-sized) secret is the point of one case
              pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")]


def _secret(platform: Platform) -> str:
    return platform.env.get("CRM_JWT_SECRET", DEV_SECRET)


def _claims(user: dict[str, Any]) -> dict[str, Any]:
    """The claims of the user's real access token."""
    return dict(jwt.decode(user["token"], options={"verify_signature": False}))


def _refused(platform: Platform, token: str, code: str | None = None) -> dict[str, Any]:
    """``token`` gets 401 on a hand-written operation and on a route-table one alike."""
    problem: dict[str, Any] = {}
    for path in ("/api/v1/me", "/api/v1/customers"):
        with platform.client(token) as c:
            r = c.get(path)
        problem = expect_problem(r, 401, code)
        assert r.headers.get("www-authenticate") == "Bearer"
    return problem


@pytest.fixture(scope="module")
def rep(platform: Platform) -> dict[str, Any]:
    return platform.new_user(["sales_rep"])


def _rs256(claims: dict[str, Any]) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, algorithm="RS256")


BAD_TOKENS: dict[str, tuple[Callable[[dict[str, Any], str], str], str]] = {
    # name: (token from the real claims and the platform's secret, expected code)
    "alg none": (lambda c, s: jwt.encode(c, None, algorithm="none"),  # type: ignore[arg-type]
                 "invalid_token"),
    "alg none, no signature part": (
        lambda c, s: jwt.encode(c, None, algorithm="none").rstrip("."),  # type: ignore[arg-type]
        "invalid_token"),
    "RS256 (key confusion)": (lambda c, s: _rs256(c), "invalid_token"),
    "HS512 with the real secret": (lambda c, s: jwt.encode(c, s, algorithm="HS512"),
                                   "invalid_token"),
    "wrong signature": (lambda c, s: jwt.encode(c, "another-secret-of-32-characters-xx",
                                                algorithm="HS256"), "invalid_token"),
    "signature cut off": (lambda c, s: jwt.encode(c, s, algorithm="HS256")[:-6],
                          "invalid_token"),
    "expired": (lambda c, s: jwt.encode({**c, "exp": int(time.time()) - 60}, s,
                                        algorithm="HS256"), "token_expired"),
    "not yet valid (nbf)": (lambda c, s: jwt.encode({**c, "nbf": int(time.time()) + 3600}, s,
                                                    algorithm="HS256"), "invalid_token"),
    "issued in the future (iat)": (
        lambda c, s: jwt.encode({**c, "iat": int(time.time()) + 3600}, s, algorithm="HS256"),
        "invalid_token"),
    "wrong audience": (lambda c, s: jwt.encode({**c, "aud": "another-system"}, s,
                                               algorithm="HS256"), "invalid_token"),
    "refresh token as access": (lambda c, s: jwt.encode({**c, "typ": "refresh"}, s,
                                                        algorithm="HS256"), "invalid_token"),
    "no expiry": (lambda c, s: jwt.encode({k: v for k, v in c.items() if k != "exp"}, s,
                                          algorithm="HS256"), "invalid_token"),
    "no token version": (lambda c, s: jwt.encode({k: v for k, v in c.items() if k != "tv"},
                                                 s, algorithm="HS256"), "invalid_token"),
    "unknown subject": (lambda c, s: jwt.encode({**c, "sub": uuid.uuid4().hex}, s,
                                                algorithm="HS256"), "account_deactivated"),
    "older token version": (lambda c, s: jwt.encode({**c, "tv": c["tv"] - 1}, s,
                                                    algorithm="HS256"), "token_revoked"),
    "not a JWT": (lambda c, s: "a.b.c", "invalid_token"),
}


@pytest.mark.parametrize("name", list(BAD_TOKENS))
def test_a_bad_token_is_a_401(platform: Platform, rep: dict[str, Any], name: str) -> None:
    make, code = BAD_TOKENS[name]
    _refused(platform, make(_claims(rep), _secret(platform)), code)


def test_the_same_claims_properly_signed_are_accepted(platform: Platform,
                                                      rep: dict[str, Any]) -> None:
    """The control for the table above: a token made the way the tests make theirs, with
    nothing wrong in it, works — so each refusal is the one fault it carries."""
    token = jwt.encode({**_claims(rep), "jti": uuid.uuid4().hex}, _secret(platform),
                       algorithm="HS256")
    with platform.client(token) as c:
        assert c.get("/api/v1/me").json()["id"] == rep["id"]


def test_a_password_change_signs_every_session_out(platform: Platform) -> None:
    user = platform.new_user(["sales_rep"])
    with platform.client() as c:
        refresh = c.post("/api/v1/auth/token", data={
            "username": user["username"], "password": "password-123"}).json()["refresh_token"]
    with platform.admin() as admin:
        r = admin.patch(f"/api/v1/users/{user['id']}", json={"password": "password-456"})
        assert r.status_code == 200, r.text
    _refused(platform, user["token"], "token_revoked")
    with platform.client() as c:
        expect_problem(c.post("/api/v1/auth/refresh", json={"refresh_token": refresh}), 401,
                       "token_revoked")
    assert platform.login(user["username"], "password-456")


def test_a_role_change_signs_sessions_out(platform: Platform) -> None:
    user = platform.new_user(["sales_rep"])
    with platform.admin() as admin:
        assert admin.patch(f"/api/v1/users/{user['id']}",
                           json={"roles": ["viewer"]}).status_code == 200
    _refused(platform, user["token"], "token_revoked")


def test_a_deactivated_users_token_refresh_and_key_are_401(platform: Platform) -> None:
    leaver = platform.new_user(["sales_rep"])
    successor = platform.new_user(["sales_rep"])
    with platform.client() as c:
        refresh = c.post("/api/v1/auth/token", data={
            "username": leaver["username"], "password": "password-123"}).json()["refresh_token"]
    with platform.client(leaver["token"]) as c:
        key = c.post("/api/v1/api-keys", json={"name": "script"}).json()["key"]
    with platform.admin() as admin:
        assert admin.post(f"/api/v1/users/{leaver['id']}/deactivate",
                          json={"successor_id": successor["id"]}).status_code == 200
    _refused(platform, leaver["token"])
    with platform.client() as c:
        expect_problem(c.post("/api/v1/auth/refresh", json={"refresh_token": refresh}), 401)
    with platform.client(**{"X-API-Key": key}) as c:
        expect_problem(c.get("/api/v1/customers"), 401)


def test_a_revoked_api_key_is_401(platform: Platform) -> None:
    user = platform.new_user(["sales_rep"])
    with platform.client(user["token"]) as c:
        made = c.post("/api/v1/api-keys", json={"name": "script"}).json()
        with platform.client(**{"X-API-Key": made["key"]}) as k:
            assert k.get("/api/v1/customers").status_code == 200
        assert c.post(f"/api/v1/api-keys/{made['id']}/revoke").status_code == 200
    for headers in ({"X-API-Key": made["key"]}, {"Authorization": f"Bearer {made['key']}"}):
        with platform.client(**headers) as k:
            expect_problem(k.get("/api/v1/customers"), 401, "api_key_revoked")


def test_passwords_are_stored_with_argon2id(platform: Platform) -> None:
    user = platform.new_user(["viewer"])
    with psycopg2.connect(platform.db_urls["gateway"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT password_hash FROM users WHERE id = %s", (user["id"],))
        (stored,) = cur.fetchone()
    # memory-hard: argon2id with at least 19 MiB (OWASP's floor)
    assert stored.startswith("$argon2id$"), stored[:20]
    memory = int(stored.split("$")[3].split(",")[0].removeprefix("m="))
    assert memory >= 19 * 1024 and "password-123" not in stored


def test_failed_sign_ins_are_throttled_with_retry_after(platform: Platform) -> None:
    user = platform.new_user(["viewer"])
    with httpx.Client(base_url=platform.base_url, timeout=30) as c:
        def sign_in(password: str) -> httpx.Response:
            return c.post("/api/v1/auth/token",
                          data={"username": user["username"], "password": password})

        failures = 0
        while (r := sign_in("wrong-password")).status_code == 401:
            failures += 1
            assert failures <= 10, "still answering 401 after 10 failed sign-ins"
        problem = expect_problem(r, 429, "login_rate_limited")
        assert int(r.headers["retry-after"]) >= 1 and problem["retry_after"] >= 1
        # the right password does not get through either while the name is throttled
        expect_problem(sign_in("password-123"), 429, "login_rate_limited")
        # another user is not locked out by it
        other = platform.new_user(["viewer"])
        assert c.post("/api/v1/auth/token", data={"username": other["username"],
                                                  "password": "password-123"}
                      ).status_code == 200
    # the tokens issued before keep working: throttling stops guessing, not sessions
    with platform.client(user["token"]) as c:
        assert c.get("/api/v1/me").status_code == 200
