"""Chaos under load, the full run (issue 26 R1; ``make chaos``): ``--units`` customer
stories (five API writes each: 2,000 units are 10,000 operations) through the gateway
over every service while the faults below are injected, then counted from each service's
own tables (see :mod:`tests.reliability.chaos`). Prints the figures for
``docs/reliability.md``; exits 1 if anything was lost, applied twice or unexpected.

Faults, spread over the run: the broker drops every connection 5 times (a broker
restart, on our vhost), 5 SIGKILLs and 5 SIGTERMs (rolling restarts) of service replicas
— the creating services too, unlike the short test — one freeze (SIGSTOP past the RPC
timeout), PostgreSQL sessions cut (``pg_terminate_backend``) and the customer service's
connections dropped while it applies a payment (``unacked``: redelivered after commit).

    .venv/bin/python bench/chaos.py [--units 2000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.reliability.chaos import Fault, Load, settle_and_count  # noqa: E402
from tests.support.orders import seller  # noqa: E402
from tests.support.platform import SERVICES, running_platform  # noqa: E402

RPC_TIMEOUT = 15.0


def faults() -> list[Fault]:
    consumers = [s for s in ("billing", "service_desk", "notify", "docs") if s in SERVICES]
    creators = ["customer", "sales"]
    plan: list[tuple[str, str]] = []
    plan += [("amqp", "*")] * 5
    plan += [("kill", s) for s in (consumers + creators)[:5]]
    plan += [("term", s) for s in (creators + consumers)[:5]]
    plan += [("freeze", consumers[-1]), ("pg", "billing"), ("pg", "sales"),
             ("unacked", "customer")]
    # interleaved so that no two of a kind come together
    order = sorted(range(len(plan)), key=lambda i: (i % 5, i))
    return [Fault(kind, service, (n + 1) / (len(plan) + 2))
            for n, (kind, service) in enumerate(plan[i] for i in order)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running_platform(
            Path(tmp), CRM_RPC_TIMEOUT=str(RPC_TIMEOUT), CRM_RATE_LIMIT_PER_SECOND="100000",
            CRM_RATE_LIMIT_BURST="100000") as platform:
        who = seller(platform)
        load = Load(platform, who, args.units, args.concurrency, give_up_after=600)
        plan = faults()
        seconds = load.run(plan)
        figures = settle_and_count(platform, load, plan, seconds, RPC_TIMEOUT)
    print(f"chaos {datetime.now(UTC):%Y-%m-%d}: {figures.line()}")
    for failure in figures.failed_units[:10]:
        print(f"  failed unit {failure}")
    for _when, what, path in figures.five_xx_outside_window[:10]:
        print(f"  5xx outside the window: {what} {path}")
    bad = figures.lost or figures.applied_twice or figures.unexpected or figures.failed_units
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
