"""The whole platform as real processes on a fresh vhost and fresh PostgreSQL databases,
driven over HTTP like any client (end-to-end tests and benchmarks)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg2
from crm_platform.migrations import upgrade

from tests.support.infra import (
    Databases,
    Proc,
    Vhost,
    base_env,
    free_port,
    service_proc,
    wait_until,
)

REPO = Path(__file__).resolve().parents[2]
# every service present in this build, in dependency order
SERVICES = [s for s in ("customer", "sales", "billing", "service_desk", "docs", "notify")
            if (REPO / "services" / s / "service.py").exists()]
ADMIN_PASSWORD = "e2e-admin-password"


@dataclass
class Platform:
    base_url: str
    env: dict[str, str]
    procs: dict[str, Proc]
    ops_ports: dict[str, int]
    amqp_uri: str
    db_urls: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, token: str | None = None, **headers: str) -> httpx.Client:
        all_headers = dict(headers)
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        return httpx.Client(base_url=self.base_url, headers=all_headers, timeout=30)

    def login(self, username: str, password: str) -> str:
        with httpx.Client(base_url=self.base_url, timeout=30) as c:
            r = c.post("/api/v1/auth/token", data={"username": username, "password": password})
            r.raise_for_status()
            return str(r.json()["access_token"])

    def admin(self) -> httpx.Client:
        if "admin" not in self.tokens:
            self.tokens["admin"] = self.login("admin", ADMIN_PASSWORD)
        return self.client(self.tokens["admin"])

    @contextmanager
    def another_gateway(self, **env: str) -> Iterator[str]:
        """A second gateway replica on the same databases and broker with settings of
        its own (a low rate limit); yields its base URL."""
        port = free_port()
        log_dir = self.procs["gateway"].log_path.parent
        proc = Proc(f"gateway-{port}", [sys.executable, "-m", "uvicorn", "gateway.app:app",
                                        "--host", "127.0.0.1", "--port", str(port),
                                        "--no-access-log"],
                    {**self.env, **env}, log_dir / f"gateway-{port}.log")
        proc.start()
        url = f"http://127.0.0.1:{port}"
        try:
            try:
                wait_until(lambda: httpx.get(f"{url}/readyz", timeout=2).status_code == 200,
                           60, "the second gateway ready")
            except TimeoutError:
                raise AssertionError(proc.log_tail()) from None
            yield url
        finally:
            proc.stop()

    def wait_service_ready(self, name: str, timeout: float = 60) -> None:
        port = self.ops_ports[name]

        def ready() -> bool:
            return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200

        try:
            wait_until(ready, timeout, f"{name} ready")
        except TimeoutError:
            raise AssertionError(f"{name} not ready:\n{self.procs[name].log_tail()}") from None

    def consumed(self, service: str, event_ids: list[str]) -> set[str]:
        """Which of ``event_ids`` the service's inbox holds: each has been applied once,
        and any later redelivery of it is recognised and has no effect."""
        with psycopg2.connect(self.db_urls[service]) as conn, conn.cursor() as cur:
            cur.execute("SELECT DISTINCT event_id FROM inbox WHERE event_id = ANY(%s)",
                        (list(event_ids),))
            return {row[0] for row in cur.fetchall()}

    def new_user(self, roles: list[str], team_id: str | None = None,
                 display_name: str | None = None, **extra: Any) -> dict[str, Any]:
        """Create a user through the gateway; returns the user plus a token."""
        username = f"u{uuid.uuid4().hex[:10]}"
        body = {"username": username, "password": "password-123",
                "display_name": display_name or username, "roles": roles, **extra}
        if team_id:
            body["team_id"] = team_id
        with self.admin() as admin:
            r = admin.post("/api/v1/users", json=body)
            assert r.status_code == 201, r.text
            user = dict(r.json())
        user["token"] = self.login(username, "password-123")
        return user


@contextmanager
def running_platform(tmp: Path, services: list[str] | None = None, *, sqlite: bool = False,
                     default_pools: bool = False, **extra_env: str) -> Iterator[Platform]:
    """Start the platform; with ``sqlite`` it runs on the laptop default (SQLite files under
    ``CRM_VAR_DIR``) instead of PostgreSQL. Tests run with small connection pools;
    benchmarks ask for the ``default_pools`` a deployment has."""
    services = services or SERVICES
    vhost = Vhost()
    dbs = Databases("crm_e2e")
    procs: dict[str, Proc] = {}
    try:
        if sqlite:
            urls = {c: f"sqlite:///{tmp / f'{c}.db'}" for c in ["gateway", *services]}
            db_env = {"CRM_VAR_DIR": str(tmp)}  # the default location, no URL given
        else:
            urls = {c: dbs.create(c) for c in ["gateway", *services]}
            db_env = {f"{c.upper()}_DATABASE_URL": url for c, url in urls.items()}
        for component, url in urls.items():
            upgrade(component, url)
        env = base_env(
            vhost.uri,
            **db_env,
            CRM_ADMIN_PASSWORD=ADMIN_PASSWORD,
            CRM_RATE_LIMIT_PER_SECOND="2000",
            CRM_RATE_LIMIT_BURST="5000",
            CRM_RPC_TIMEOUT="15",
            CRM_SEED_DEMO="false",
        )
        if not default_pools:
            # two platforms run at once in `make test` (the session's and a reliability
            # test's); with every process keeping a worker's worth of idle connections
            # they went past PostgreSQL's default max_connections of 100
            env.update(CRM_DB_POOL_SIZE="4", CRM_DB_MAX_OVERFLOW="30")
        if "docs" in services:
            content_port = free_port()
            # the documents' bytes on this run's disk; its clock movable (borrowing tests)
            env.update(CRM_DOCS_CONTENT_PORT=str(content_port),
                       CRM_DOCS_CONTENT_URL=f"http://127.0.0.1:{content_port}",
                       CRM_DOCS_STORAGE_DIR=str(tmp / "docs-blobs"),
                       CRM_DOCS_ADJUSTABLE_CLOCK="true")
        env.update(extra_env)
        subprocess.run([sys.executable, "-m", "crm_platform.service.topology"], env=env,
                       check=True, capture_output=True, timeout=60)
        subprocess.run([sys.executable, "-m", "gateway.seed"], env=env, check=True,
                       capture_output=True, timeout=60)
        ops_ports = {s: free_port() for s in services}
        for s in services:
            procs[s] = service_proc(s, env, tmp, ops_ports[s])
            procs[s].start()
        port = free_port()
        procs["gateway"] = Proc("gateway", [sys.executable, "-m", "uvicorn", "gateway.app:app",
                                            "--host", "127.0.0.1", "--port", str(port),
                                            "--no-access-log"], env, tmp / "gateway.log")
        procs["gateway"].start()
        platform = Platform(f"http://127.0.0.1:{port}", env, procs, ops_ports, vhost.uri, urls)

        def gateway_ready() -> bool:
            return httpx.get(f"{platform.base_url}/readyz", timeout=2).status_code == 200

        try:
            wait_until(gateway_ready, 60, "gateway ready")
        except TimeoutError:
            raise AssertionError(procs["gateway"].log_tail()) from None
        for s in services:
            platform.wait_service_ready(s)
        yield platform
    finally:
        for proc in procs.values():
            proc.stop()
        vhost.delete()
        dbs.drop_all()


