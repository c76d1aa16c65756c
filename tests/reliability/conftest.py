"""A ledger service on a fresh vhost and PostgreSQL database, restartable at will."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from crm_platform.rpc_client import AsyncRpcClient
from sqlalchemy import create_engine

from tests.reliability.ledger_service import Base
from tests.support.infra import Databases, Proc, Vhost, base_env, free_port, wait_until


@dataclass
class Ledger:
    name: str
    amqp_uri: str
    db_url: str
    env: dict[str, str]
    log_dir: Path
    procs: list[Proc]

    def spawn(self) -> Proc:
        port = free_port()
        proc = Proc(f"{self.name}-{len(self.procs)}",
                    [sys.executable, "-m", "crm_platform.service.run",
                     "tests.reliability.ledger_service:LedgerService"],
                    {**self.env, "CRM_OPS_PORT": str(port)},
                    self.log_dir / f"ledger-{len(self.procs)}.log")
        proc.ops_port = port  # type: ignore[attr-defined]
        proc.start()
        self.procs.append(proc)
        self.wait_ready(proc)
        return proc

    def wait_ready(self, proc: Proc) -> None:
        port = proc.ops_port  # type: ignore[attr-defined]

        def ready() -> bool:
            return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
        try:
            wait_until(ready, 60, "ledger ready")
            # the RPC consumer is up once a call goes through
            wait_until(lambda: self.call("applied", timeout=2) is not None, 30, "ledger rpc")
        except TimeoutError:
            raise AssertionError(proc.log_tail()) from None

    def restart(self, proc: Proc) -> None:
        proc.restart()
        self.wait_ready(proc)

    def call(self, method: str, timeout: float = 10, **kwargs: Any) -> Any:
        async def go() -> Any:
            client = AsyncRpcClient(self.amqp_uri, default_timeout=timeout)
            await client.connect()
            try:
                return await client.call(self.name, method, kwargs)
            finally:
                await client.close()
        return asyncio.run(go())

    def calls(self, method: str, n: int, **kwargs: Any) -> list[Any]:
        """``n`` concurrent calls over one client."""
        async def go() -> list[Any]:
            client = AsyncRpcClient(self.amqp_uri, default_timeout=30)
            await client.connect()
            try:
                return list(await asyncio.gather(
                    *[client.call(self.name, method, kwargs) for _ in range(n)]))
            finally:
                await client.close()
        return asyncio.run(go())


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    vhost = Vhost()
    dbs = Databases("crm_ledger")
    name = f"ledger_{uuid.uuid4().hex[:8]}"
    tmp = tmp_path_factory.mktemp("ledger")
    procs: list[Proc] = []
    try:
        url = dbs.create("ledger")
        engine = create_engine(url)
        Base.metadata.create_all(engine)
        engine.dispose()
        env = base_env(vhost.uri, DATABASE_URL=url, LEDGER_SERVICE_NAME=name,
                       CRM_EVENT_MAX_ATTEMPTS="3", CRM_EVENT_RETRY_BASE_MS="100",
                       CRM_OUTBOX_SWEEP_SECONDS="0.5", CRM_OUTBOX_GRACE_SECONDS="0.5")
        ledger = Ledger(name, vhost.uri, url, env, tmp, procs)
        ledger.spawn()
        yield ledger
    finally:
        for proc in procs:
            proc.kill()
        vhost.delete()
        dbs.drop_all()
