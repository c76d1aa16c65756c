"""Sending a body exactly as a client wrote it, and expecting a problem+json answer
(the bad-input tests of every service)."""

from __future__ import annotations

import json
from typing import Any

import httpx

PROBLEM_JSON = "application/problem+json"


def send_raw(c: httpx.Client, method: str, path: str, body: Any,
             version: int | None = None) -> httpx.Response:
    """``body`` as the standard library writes it (NUL and lone surrogates escaped, NaN as
    ``NaN``, huge numbers exactly as given), or a string sent as it is; ``path`` below
    ``/api/v1``; ``version`` as ``If-Match``."""
    headers = {"Content-Type": "application/json"}
    if version is not None:
        headers["If-Match"] = f'"{version}"'
    content = body if isinstance(body, str) else json.dumps(body)
    return c.request(method, f"/api/v1{path}", content=content, headers=headers)


def expect_problem(r: httpx.Response, status: int, code: str | None = None
                   ) -> dict[str, Any]:
    """The problem+json body of ``r``, which must have ``status`` (and ``code``)."""
    assert r.status_code == status, f"{r.status_code} {r.text}"
    assert r.headers["content-type"].startswith(PROBLEM_JSON), r.headers["content-type"]
    problem = dict(r.json())
    assert problem["status"] == status and problem["detail"], problem
    if code:
        assert problem["code"] == code, problem
    return problem


def refused(r: httpx.Response) -> dict[str, Any]:
    """A 422: the body was refused before anything was written."""
    return expect_problem(r, 422)
