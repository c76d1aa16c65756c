"""Schemathesis hooks for the S5 run (``SCHEMATHESIS_HOOKS``; ``test_security_schemathesis``).

The run's own accounts are never the target of a generated request: a generated role
change or deactivation of the caller would end the run's token, not find a defect. A
request naming one (generated, or taken from an answer by a link such as
``GET /users`` → ``PATCH /users/{user_id}``) is sent to an unknown user instead."""

from __future__ import annotations

import os
import uuid
from typing import Any

import schemathesis

PROTECTED = {i for i in os.environ.get("CRM_S5_PROTECTED_USER_IDS", "").split(",") if i}


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: schemathesis.Case,
                kwargs: dict[str, Any]) -> None:
    params = case.path_parameters or {}
    for name, value in list(params.items()):
        if name == "user_id" and str(value) in PROTECTED:
            params[name] = str(uuid.uuid4())
