"""Run one nameko service: ``python -m crm_platform.service.run services.customer.service``.

Monkey-patches eventlet first, makes psycopg2 green, configures JSON logs, builds the
nameko config from the environment and stops gracefully on SIGTERM / SIGINT.
"""

from __future__ import annotations

import eventlet

eventlet.monkey_patch()

import importlib  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402

from nameko.runners import ServiceRunner  # noqa: E402

from crm_platform import logs  # noqa: E402
from crm_platform.db import make_psycopg_green  # noqa: E402
from crm_platform.memory import settle_after_startup  # noqa: E402
from crm_platform.settings import get_settings  # noqa: E402

log = logging.getLogger("crm_platform.run")


def nameko_config() -> dict[str, Any]:
    settings = get_settings()
    return {
        "AMQP_URI": settings.amqp_uri,
        "max_workers": settings.max_workers,
        "serializer": "json",
        "HEARTBEAT": 30,
    }


def find_service_class(target: str) -> type:
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    if attr:
        return getattr(module, attr)  # type: ignore[no-any-return]
    classes = [
        v for v in vars(module).values()
        if isinstance(v, type) and getattr(v, "name", None) and v.__module__ == module.__name__
    ]
    if len(classes) != 1:
        raise SystemExit(f"{target}: expected one service class, found {classes}")
    return classes[0]


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        raise SystemExit("usage: python -m crm_platform.service.run <module[:Class]>")
    make_psycopg_green()
    settings = get_settings()
    service_cls = find_service_class(args[0])
    logs.configure(service_cls.name, settings.log_level, settings.log_json)  # type: ignore[attr-defined]
    runner = ServiceRunner(nameko_config())
    runner.add_service(service_cls)

    stopping = False

    def shutdown(signum: int, _frame: Any) -> None:
        # a supervisor and the process group may both pass the signal on: stopping twice
        # stopped nameko's timers twice (an assertion in eventlet, a traceback per timer)
        nonlocal stopping
        if stopping:
            return
        stopping = True
        log.info("signal %s: stopping", signum)
        eventlet.spawn_n(runner.stop)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    runner.start()
    settle_after_startup()
    log.info("service %s started", service_cls.name)  # type: ignore[attr-defined]
    runner.wait()


if __name__ == "__main__":
    main()
