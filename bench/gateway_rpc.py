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
request (Linux /proc), steadier than throughput on a shared machine.

``--clients aiormq,frames`` measures the gateway and the floor once per RPC client
(``frames``: the hand-written AMQP client this branch replaces), each in a process of its
own on the same platform; ``--rounds`` splits each level into slices that alternate
between all targets.

    .venv/bin/python bench/gateway_rpc.py [--requests 6000] [--seconds 20] [--rounds 1]
        [--clients aiormq]
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
                        help="slices per level, alternating between the targets, so a "
                             "shared machine's drift falls on all of them alike")
    parser.add_argument("--clients", default="aiormq",
                        help="RPC clients to compare, comma-separated: aiormq, frames")
    args = parser.parse_args()
    clients = args.clients.split(",")
    with tempfile.TemporaryDirectory() as tmp, running_platform(
        Path(tmp), CRM_RATE_LIMIT_PER_SECOND="1000000", CRM_RATE_LIMIT_BURST="1000000",
        CRM_LOG_LEVEL="WARNING", default_pools=True,
    ) as platform:
        user = platform.new_user(["sales_rep"], display_name="压测")
        with platform.client(user["token"]) as c:
            customer = c.post("/api/v1/customers", json={"name": "基准测试客户",
                                                         "kind": "person"}).json()
            assert c.get(f"/api/v1/customers/{customer['id']}").status_code == 200

        def uvicorn(app: str, port: int, **env: str) -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port",
                 str(port), "--no-access-log", "--log-level", "warning"],
                cwd=REPO, env={**platform.env, **env})
        ceiling_port = free_port()
        helpers = [
            uvicorn("bench.ceiling_app:app", ceiling_port),
            subprocess.Popen([sys.executable, "-m", "crm_platform.service.run",
                              "bench.floor_service"], cwd=REPO, env=platform.env),
        ]
        # per client, a gateway and an RPC floor of their own on the same platform
        gateways: dict[str, tuple[str, subprocess.Popen[bytes]]] = {}
        floors: dict[str, tuple[str, subprocess.Popen[bytes]]] = {}
        for client in clients:
            port = free_port()
            gateways[client] = (f"http://127.0.0.1:{port}",
                                uvicorn("gateway.app:app", port, CRM_RPC_CLIENT=client))
            port = free_port()
            floors[client] = (f"http://127.0.0.1:{port}/ping",
                              uvicorn("bench.floor_app:app", port, CRM_RPC_CLIENT=client))
        helpers += [proc for _, proc in (*gateways.values(), *floors.values())]
        try:
            ceiling_url = f"http://127.0.0.1:{ceiling_port}/constant"
            headers = {"Authorization": f"Bearer {user['token']}"}
            path = f"/api/v1/customers/{customer['id']}"
            wait_until(answers(ceiling_url), 30, "ceiling app")
            for floor_url, _ in floors.values():
                wait_until(answers(floor_url), 60, "RPC floor")
            for gateway_url, _ in gateways.values():
                wait_until(answers(gateway_url + path, headers), 60, "gateway")
            targets = [(f"{kind} {client}", url, auth, proc.pid)
                       for client in clients
                       for kind, (url, proc), auth in (
                           ("rpc", (gateways[client][0] + path, gateways[client][1]), headers),
                           ("floor", floors[client], None))]
            targets.append(("ceiling", ceiling_url, None, helpers[0].pid))
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
    for level in LEVELS:
        for name in [*(f"{kind} {client}" for client in clients for kind in ("rpc", "floor")),
                     "ceiling"]:
            result, cpu = results[(name, level)]
            print(f"{result.line(name)}  cpu {cpu:5.2f} ms")
    print()
    top = {level: results[("ceiling", level)][0].rps for level in LEVELS}
    for client in clients:
        for level in LEVELS:
            rpc = results[(f"rpc {client}", level)][0]
            floor = results[(f"floor {client}", level)][0]
            print(f"{client:<7} c={level:<3} rpc read reaches {100 * rpc.rps / top[level]:5.1f}%"
                  f" of the ceiling  (the no-op RPC floor: {100 * floor.rps / top[level]:5.1f}%)")
    for client in clients:
        r16, r64 = results[(f"rpc {client}", 16)][0], results[(f"rpc {client}", 64)][0]
        print(f"\n{client} targets: >=15% of ceiling at 64 -> "
              f"{'met' if r64.rps >= 0.15 * top[64] else 'MISSED'}; p99 < 30 ms at 16 -> "
              f"{'met' if r16.pct(0.99) < 30 else 'MISSED'}; p99 < 100 ms at 64 -> "
              f"{'met' if r64.pct(0.99) < 100 else 'MISSED'}")


if __name__ == "__main__":
    main()
