"""The API gateway: one public API for every service (``/api/v1``), OpenAPI at ``/docs``.

Run with ``uvicorn gateway.app:app``. Never imports nameko: services are called over
nameko's RPC protocol through :class:`crm_platform.rpc_client.AsyncRpcClient`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
from crm_platform import logs
from crm_platform.events import exchange_name
from crm_platform.memory import settle_after_startup
from crm_platform.settings import get_settings
from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from gateway import problems
from gateway.config import check_production_secrets, gateway_settings
from gateway.middleware import GatewayMiddleware
from gateway.routes import (
    composite,
    identity,
    portal,
    service_routers,
    service_routes,
    streamed_uploads,
    workspace,
)
from gateway.routetable import build_router
from gateway.runtime import Runtime

log = logging.getLogger(__name__)


async def _connect_rpc(rt: Runtime) -> None:
    """Connect the RPC client; keep trying in the background while the broker is down."""
    while True:
        try:
            await rt.rpc.connect()
            return
        except Exception as exc:  # broker down: identity still works, services give 503
            log.warning("broker not reachable (%s); retrying", exc)
            await asyncio.sleep(2)


async def _watch_identity_changes(rt: Runtime) -> None:
    """Drop cached principals when any replica changes users, teams or keys."""
    while True:
        try:
            connection = await aio_pika.connect_robust(get_settings().amqp_uri)
            async with connection:
                channel = await connection.channel()
                exchange = await channel.declare_exchange(
                    exchange_name("gateway"), aio_pika.ExchangeType.TOPIC, durable=True)
                queue = await channel.declare_queue(exclusive=True, auto_delete=True)
                for key in ("user.*", "team.*", "api_key.*", "portal_account.*"):
                    await queue.bind(exchange, routing_key=key)
                async with queue.iterator(no_ack=True) as messages:
                    async for _message in messages:
                        rt.cache.invalidate()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("identity change watcher lost the broker (%s); retrying", exc)
            rt.cache.invalidate()
            await asyncio.sleep(2)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    check_production_secrets()
    rt = Runtime()
    app.state.runtime = rt
    rt.outbox.start()
    rt.audit.start()
    tasks = [asyncio.create_task(_connect_rpc(rt)),
             asyncio.create_task(_watch_identity_changes(rt))]
    settle_after_startup()
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await rt.rpc.close()
        rt.audit.stop()
        rt.outbox.stop()
        rt.publisher.close()
        rt.engine.dispose()


def _serve(app: FastAPI, router: APIRouter) -> None:
    """The router's operations as the app's own routes. An included router (FastAPI
    0.165) is matched through a wrapper on every request, twice (to match, then to
    handle): a quarter of the gateway's own work per request with ~150 operations.
    Their paths and OpenAPI entries are the same either way."""
    app.router.routes.extend(router.routes)


def create_app() -> FastAPI:
    settings = get_settings()
    gw = gateway_settings()
    logs.configure("gateway", settings.log_level, settings.log_json)
    app = FastAPI(
        title="CRM platform API",
        version="1.0",
        description="One API for customers, sales, billing, service desk, documents and "
        "notifications. Errors are RFC 9457 problem+json with a stable `code`.",
        lifespan=lifespan,
    )
    problems.install(app)
    problems.install_openapi(app)
    for router in (identity.router, portal.router, composite.router, workspace.router,
                   *service_routers(),
                   build_router(service_routes())):
        _serve(app, router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        rt: Runtime = app.state.runtime
        checks: dict[str, str] = {}

        def db_check() -> None:
            with rt.engine.connect() as conn:
                conn.execute(text("SELECT 1"))

        try:
            await run_in_threadpool(db_check)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"failed: {exc}"
        checks["broker"] = "ok" if rt.rpc.connected else "failed: not connected"
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(GatewayMiddleware, max_body=gw.max_body_bytes,
                       max_upload=gw.max_upload_bytes, streamed=streamed_uploads())
    # added last, so outermost: the gateway middleware's own answers (400 invalid_url,
    # 413) carry the CORS headers too, or a browser client could not read them
    app.add_middleware(CORSMiddleware, allow_origins=gw.cors_origins, allow_methods=["*"],
                       allow_headers=["*"], expose_headers=["ETag", "X-Request-Id"])
    return app


def __getattr__(name: str) -> Any:
    # ``uvicorn gateway.app:app`` builds the app lazily, so importing this module for
    # tests does not configure logging or read settings.
    if name == "app":
        return create_app()
    raise AttributeError(name)
