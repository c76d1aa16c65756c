"""Gateway benchmark (issue: platform foundation).

Starts the platform on PostgreSQL (gateway + customer service, fresh databases and vhost),
then measures through the gateway with a real token an authenticated read that does one
RPC to the customer service and one indexed database read
(``GET /api/v1/customers/{id}``), at 1, 16 and 64 concurrent keep-alive clients; and, in
the same run and under the same uvicorn settings, the ceiling: a plain FastAPI endpoint
returning a constant; and the RPC floor: a plain FastAPI endpoint making one call through
the gateway's RPC client to a platform service method that does nothing
(``bench/floor_app.py`` → ``bench/floor_service.py``), which no RPC read can beat.
Besides throughput and latency, each line gives the serving process's CPU time per
request (Linux /proc), steadier than throughput on a shared machine; ``--rounds`` splits
each level into slices that alternate between the three, so the machine's drift falls on
all of them alike.

    .venv/bin/python bench/gateway_rpc.py [--requests 6000] [--seconds 20] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.loadgen import Result, run  # noqa: E402
from tests.support.infra import free_port, wait_until  # noqa: E402
from tests.support.platform import running_platform  # noqa: E402

LEVELS = (1, 16, 64)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def answers(url: str, headers: dict[str, str] | None = None) -> Callable[[], bool]:
    return lambda: httpx.get(url, headers=headers).status_code == 200


def measure(url: str, level: int, requests: int, seconds: float,
            headers: dict[str, str] | None, pid: int) -> tuple[Result, float]:
    """The load's result and the serving process's CPU seconds under it."""
    asyncio.run(run(url, level, 200, 5, headers))  # warm up, then measure
    before = cpu_seconds(pid)
    result = asyncio.run(run(url, level, requests, seconds, headers))
    return result, cpu_seconds(pid) - before


def merged(parts: list[tuple[Result, float]]) -> tuple[Result, float]:
    """One result of a level's slices, and the CPU milliseconds per request."""
    result = Result(parts[0][0].concurrency, sum(r.requests for r, _ in parts),
                    sum(r.errors for r, _ in parts), sum(r.seconds for r, _ in parts),
                    [ms for r, _ in parts for ms in r.latencies_ms])
    return result, 1000 * sum(cpu for _, cpu in parts) / max(1, result.requests)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=6000, help="per level, at most")
    parser.add_argument("--seconds", type=float, default=20.0, help="per level, at most")
    parser.add_argument("--rounds", type=int, default=1,
                        help="slices per level, alternating between the targets")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running_platform(
        Path(tmp), CRM_RATE_LIMIT_PER_SECOND="1000000", CRM_RATE_LIMIT_BURST="1000000",
        CRM_LOG_LEVEL="WARNING", default_pools=True,
    ) as platform:
        user = platform.new_user(["sales_rep"], display_name="压测")
        with platform.client(user["token"]) as c:
            customer = c.post("/api/v1/customers", json={"name": "基准测试客户",
                                                         "kind": "person"}).json()
            assert c.get(f"/api/v1/customers/{customer['id']}").status_code == 200
        ceiling_port, floor_port = free_port(), free_port()

        def uvicorn(app: str, port: int) -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port",
                 str(port), "--no-access-log", "--log-level", "warning"],
                cwd=REPO, env=platform.env)
        ceiling = uvicorn("bench.ceiling_app:app", ceiling_port)
        floor = uvicorn("bench.floor_app:app", floor_port)
        helpers = [ceiling, floor,
                   subprocess.Popen([sys.executable, "-m", "crm_platform.service.run",
                                     "bench.floor_service"], cwd=REPO, env=platform.env)]
        try:
            ceiling_url = f"http://127.0.0.1:{ceiling_port}/constant"
            floor_url = f"http://127.0.0.1:{floor_port}/ping"
            wait_until(answers(ceiling_url), 30, "ceiling app")
            wait_until(answers(floor_url), 60, "RPC floor")
            headers = {"Authorization": f"Bearer {user['token']}"}
            gateway = platform.procs["gateway"].popen
            assert gateway is not None
            targets = [
                ("rpc", f"{platform.base_url}/api/v1/customers/{customer['id']}", headers,
                 gateway.pid),
                ("floor", floor_url, None, floor.pid),
                ("ceiling", ceiling_url, None, ceiling.pid),
            ]
            requests, seconds = args.requests // args.rounds, args.seconds / args.rounds
            results: dict[tuple[str, int], tuple[Result, float]] = {}
            for level in LEVELS:
                parts: dict[str, list[tuple[Result, float]]] = {t[0]: [] for t in targets}
                for _ in range(args.rounds):
                    for name, url, auth, pid in targets:
                        parts[name].append(measure(url, level, requests, seconds, auth, pid))
                for name, measured in parts.items():
                    results[(name, level)] = merged(measured)
        finally:
            for helper in helpers:
                helper.terminate()
                helper.wait(10)
    print("\nGET /api/v1/customers/{id} through the gateway (JWT, 1 RPC, 1 indexed read)")
    print("vs. ceiling: plain FastAPI constant, same uvicorn settings (1 worker)")
    print("and RPC floor: plain FastAPI endpoint, one RPC to a no-op service method")
    print("(cpu: the serving process's CPU per request)\n")
    labels = {"rpc": "gateway rpc read", "floor": "rpc floor (no-op)",
              "ceiling": "ceiling (constant)"}
    for level in LEVELS:
        for name, label in labels.items():
            result, cpu = results[(name, level)]
            print(f"{result.line(label)}  cpu {cpu:5.2f} ms")
    print()
    for level in LEVELS:
        rpc, floor_result = results[("rpc", level)][0], results[("floor", level)][0]
        top = results[("ceiling", level)][0]
        print(f"c={level:<3} rpc read reaches {100 * rpc.rps / top.rps:5.1f}% of the ceiling"
              f"  (the no-op RPC floor: {100 * floor_result.rps / top.rps:5.1f}%)")
    r16, r64 = results[("rpc", 16)][0], results[("rpc", 64)][0]
    c64 = results[("ceiling", 64)][0]
    print("\ntargets: >=15% of ceiling at 64 -> "
          f"{'met' if r64.rps >= 0.15 * c64.rps else 'MISSED'}; p99 < 30 ms at 16 -> "
          f"{'met' if r16.pct(0.99) < 30 else 'MISSED'}; p99 < 100 ms at 64 -> "
          f"{'met' if r64.pct(0.99) < 100 else 'MISSED'}")


if __name__ == "__main__":
    main()
