"""Real infrastructure for integration and end-to-end tests: a RabbitMQ vhost and
PostgreSQL databases of their own, and service processes started as subprocesses."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2

REPO = Path(__file__).resolve().parents[2]
PG_ADMIN_DSN = os.environ.get("CRM_TEST_PG_DSN", "host=127.0.0.1 user=postgres dbname=postgres")
PG_URL_BASE = os.environ.get("CRM_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432")
AMQP_BASE = os.environ.get("CRM_TEST_AMQP_BASE", "amqp://guest:guest@127.0.0.1:5672")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}" + (f": {last!r}" if last else ""))


class Vhost:
    """A RabbitMQ vhost per test session, so tests never see each other's queues."""

    def __init__(self) -> None:
        self.name = f"crm-test-{uuid.uuid4().hex[:10]}"
        self.ctl = shutil.which("rabbitmqctl")
        if self.ctl is None:
            raise RuntimeError("rabbitmqctl not found: tests need a local RabbitMQ node")
        self._run("add_vhost", self.name)
        self._run("set_permissions", "-p", self.name, "guest", ".*", ".*", ".*")

    def _run(self, *args: str) -> None:
        subprocess.run([self.ctl or "rabbitmqctl", "-q", *args], check=True,
                       capture_output=True, timeout=60)

    @property
    def uri(self) -> str:
        return f"{AMQP_BASE}/{self.name}"

    def delete(self) -> None:
        with contextlib.suppress(Exception):  # best effort cleanup
            self._run("delete_vhost", self.name)


class Databases:
    """Fresh PostgreSQL databases, dropped at the end."""

    def __init__(self, prefix: str = "crm_test") -> None:
        self.prefix = f"{prefix}_{uuid.uuid4().hex[:8]}"
        self.created: list[str] = []

    def _admin(self, sql: str) -> None:
        conn = psycopg2.connect(PG_ADMIN_DSN)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    def create(self, component: str) -> str:
        name = f"{self.prefix}_{component}"
        self._admin(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return f"{PG_URL_BASE}/{name}"

    def drop_all(self) -> None:
        for name in self.created:
            with contextlib.suppress(Exception):
                self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def migrated_engine(component: str, prefix: str, url: str | None = None) -> Iterator[Any]:
    """An engine on a fresh database of ``component`` migrated to head: PostgreSQL,
    dropped afterwards, unless ``url`` names another (a SQLite file)."""
    from crm_platform.db import make_engine
    from crm_platform.migrations import upgrade

    dbs = Databases(prefix)
    try:
        url = url or dbs.create(component)
        upgrade(component, url)
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()
    finally:
        dbs.drop_all()


# the two backends a service runs on: PostgreSQL in production, SQLite on a laptop
BACKENDS = ["postgresql", "sqlite"]


def engine_fixture(component: str, prefix: str,
                   prepare: Callable[[Any], None] | None = None) -> Any:
    """A module fixture ``engine``: ``component``'s database migrated to head, once on
    each of :data:`BACKENDS` (SQLite's file in a temporary directory), ``prepare``d."""
    import pytest

    @pytest.fixture(scope="module", params=BACKENDS)
    def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Any]:
        sqlite = f"sqlite:///{tmp_path_factory.mktemp(prefix) / f'{component}.db'}"
        with migrated_engine(component, prefix,
                             None if request.param == "postgresql" else sqlite) as engine:
            if prepare is not None:
                prepare(engine)
            yield engine
    return engine


@dataclass
class Proc:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    restarts: int = field(default=0)

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child
        self.popen = subprocess.Popen(self.argv, env=self.env, cwd=REPO, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen and self.popen.poll() is None:
            os.killpg(self.popen.pid, sig)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def restart(self) -> None:
        self.kill()
        self.restarts += 1
        self.start()

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def base_env(amqp_uri: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL")}
    env.pop("DATABASE_URL", None)
    env.update({
        "AMQP_URI": amqp_uri,
        "CRM_LOG_JSON": "true",
        "CRM_LOG_LEVEL": "INFO",
        "CRM_OUTBOX_SWEEP_SECONDS": "0.5",
        "CRM_OUTBOX_GRACE_SECONDS": "0.5",
        "CRM_EVENT_RETRY_BASE_MS": "100",
        "CRM_EVENT_MAX_ATTEMPTS": "4",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


def service_proc(service: str, env: dict[str, str], log_dir: Path, ops_port: int) -> Proc:
    return Proc(service, [sys.executable, "-m", "crm_platform.service.run",
                          f"services.{service}.service"],
                {**env, "CRM_OPS_PORT": str(ops_port)}, log_dir / f"{service}.log")
