"""Route tables of the services behind the gateway, one module per service."""

from __future__ import annotations

import importlib
import re
from types import ModuleType

from fastapi import APIRouter

from gateway.routetable import Route

SERVICE_ROUTE_MODULES = ("customer", "sales", "billing", "service_desk", "docs", "notify")


def _modules() -> list[ModuleType]:
    found = []
    for name in SERVICE_ROUTE_MODULES:
        try:
            found.append(importlib.import_module(f"gateway.routes.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name == f"gateway.routes.{name}":
                continue  # that service is not part of this build yet
            raise
    return found


def service_routes() -> list[Route]:
    return [route for module in _modules() for route in module.ROUTES]


def service_routers() -> list[APIRouter]:
    """Hand-written operations of a service's module (``router``): those a route-table
    line cannot express, such as streaming a file."""
    return [module.router for module in _modules() if hasattr(module, "router")]


def streamed_uploads() -> list[re.Pattern[str]]:
    """Paths whose request body is streamed to a service and limited by it, not by the
    gateway's body limit (``STREAMED_UPLOADS``)."""
    return [p for module in _modules() for p in getattr(module, "STREAMED_UPLOADS", ())]
