"""Password hashing (argon2), JWTs and API keys."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from crm_platform.errors import Unauthorized
from crm_platform.settings import get_settings

_hasher = PasswordHasher()
ALGORITHM = "HS256"
API_KEY_PREFIX = "crm_"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# A real hash to verify against when the user does not exist, so timing does not tell
# which usernames exist.
DUMMY_HASH = _hasher.hash("not-a-password")


# the claim that marks a portal account's token (SVC-07): its subject is a portal
# account, never a user, and it reaches only the portal's operations
PORTAL_CLAIM = "prt"


def issue_token(user_id: str, token_version: int, kind: str, lifetime: timedelta,
                portal: bool = False) -> str:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": user_id, "tv": token_version, "typ": kind,
        "iat": int(now.timestamp()), "exp": int((now + lifetime).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    if portal:
        claims[PORTAL_CLAIM] = 1
    return jwt.encode(claims, get_settings().jwt_secret, algorithm=ALGORITHM)


_verified: dict[str, dict[str, Any]] = {}
_VERIFIED_MAX = 10_000


def decode_token(token: str, kind: str) -> dict[str, Any]:
    """Verified claims; a token verified before is not verified again until it expires
    (the signature cannot change), which keeps HMAC and JSON off the hot path."""
    claims = _verified.get(token)
    if claims is not None and claims["exp"] > time.time() and claims["typ"] == kind:
        return claims
    claims = _decode(token, kind)
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()
    _verified[token] = claims
    return claims


def _decode(token: str, kind: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token, get_settings().jwt_secret, algorithms=[ALGORITHM],
            options={"require": ["sub", "exp", "tv", "typ"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("token expired", code="token_expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("invalid token", code="invalid_token") from exc
    if claims.get("typ") != kind:
        raise Unauthorized("wrong token type", code="invalid_token")
    return claims


def new_api_key() -> tuple[str, str, str]:
    """(key id, full secret shown once, hash stored)."""
    key_id = uuid.uuid4().hex[:12]
    secret = secrets.token_urlsafe(32)
    full = f"{API_KEY_PREFIX}{key_id}_{secret}"
    return key_id, full, hash_api_secret(secret)


def hash_api_secret(secret: str) -> str:
    # API secrets are 256-bit random, so a fast hash is enough (no dictionary to guess from)
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_api_key(full: str) -> tuple[str, str] | None:
    if not full.startswith(API_KEY_PREFIX):
        return None
    rest = full[len(API_KEY_PREFIX):]
    key_id, sep, secret = rest.partition("_")
    if not sep or not key_id or not secret:
        return None
    return key_id, secret


def is_portal_token(claims: dict[str, Any]) -> bool:
    return bool(claims.get(PORTAL_CLAIM))
