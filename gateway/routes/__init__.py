"""Route tables of the services behind the gateway, one module per service."""

from __future__ import annotations

import importlib

from gateway.routetable import Route

SERVICE_ROUTE_MODULES = ("customer", "sales", "billing", "service_desk", "docs", "notify")


def service_routes() -> list[Route]:
    routes: list[Route] = []
    for name in SERVICE_ROUTE_MODULES:
        try:
            module = importlib.import_module(f"gateway.routes.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"gateway.routes.{name}":
                continue  # that service is not part of this build yet
            raise
        routes.extend(module.ROUTES)
    return routes
