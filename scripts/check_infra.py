"""Say clearly whether RabbitMQ and PostgreSQL are reachable, and how to start them."""

from __future__ import annotations

import os
import socket
import sys
from urllib.parse import urlparse


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def main() -> int:
    broker_only = "--broker-only" in sys.argv
    amqp = urlparse(os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672//"))
    checks = [("RabbitMQ", amqp.hostname or "127.0.0.1", amqp.port or 5672,
               "start it with: rabbitmq-server -detached")]
    if not broker_only:
        pg = urlparse(os.environ.get("CRM_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/"))
        checks.append(("PostgreSQL", pg.hostname or "127.0.0.1", pg.port or 5432,
                       "start it with: pg_ctlcluster --skip-systemctl-redirect "
                       "$(ls /etc/postgresql) main start"))
    missing = [(name, host, port, how) for name, host, port, how in checks
               if not reachable(host, port)]
    for name, host, port, how in missing:
        print(f"ERROR: {name} is not reachable at {host}:{port}; {how}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
