"""The RPC floor's HTTP side: a plain FastAPI endpoint that makes one call to
``bench_floor.ping`` through the gateway's RPC client (``crm_platform.rpc_client``) — no
authentication, database, audit or middleware, under the same uvicorn settings as the
gateway and the ceiling."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from crm_platform.rpc_client import AsyncRpcClient
from crm_platform.settings import get_settings
from fastapi import FastAPI


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    client = AsyncRpcClient(get_settings().amqp_uri)
    await client.connect()
    app.state.rpc = client
    yield
    await client.close()


app = FastAPI(lifespan=lifespan)


@app.get("/ping")
async def ping() -> Any:
    return await app.state.rpc.call("bench_floor", "ping", {})
