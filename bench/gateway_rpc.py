"""Gateway benchmark (issue: platform foundation).

Starts the platform on PostgreSQL (gateway + customer service, fresh databases and vhost),
then measures through the gateway with a real token an authenticated read that does one
RPC to the customer service and one indexed database read
(``GET /api/v1/customers/{id}``), at 1, 16 and 64 concurrent keep-alive clients; and, in
the same run and under the same uvicorn settings, the ceiling: a plain FastAPI endpoint
returning a constant; and the RPC floor: a plain FastAPI endpoint making one call through
the gateway's RPC client to a platform service method that does nothing
(``bench/floor_app.py`` → ``bench/floor_service.py``), which no RPC read can beat.

    .venv/bin/python bench/gateway_rpc.py [--requests 6000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.loadgen import Result, run  # noqa: E402
from tests.support.infra import free_port, wait_until  # noqa: E402
from tests.support.platform import running_platform  # noqa: E402

LEVELS = (1, 16, 64)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=6000, help="per level, at most")
    parser.add_argument("--seconds", type=float, default=20.0, help="per level, at most")
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
        helpers = [
            uvicorn("bench.ceiling_app:app", ceiling_port),
            subprocess.Popen([sys.executable, "-m", "crm_platform.service.run",
                              "bench.floor_service"], cwd=REPO, env=platform.env),
            uvicorn("bench.floor_app:app", floor_port),
        ]
        try:
            ceiling_url = f"http://127.0.0.1:{ceiling_port}/constant"
            floor_url = f"http://127.0.0.1:{floor_port}/ping"
            wait_until(lambda: httpx.get(ceiling_url).status_code == 200, 30, "ceiling app")
            wait_until(lambda: httpx.get(floor_url).status_code == 200, 60, "RPC floor")
            headers = {"Authorization": f"Bearer {user['token']}"}
            read_url = f"{platform.base_url}/api/v1/customers/{customer['id']}"
            results: dict[tuple[str, int], Result] = {}
            for level in LEVELS:
                for name, url, auth in (("rpc", read_url, headers), ("floor", floor_url, None),
                                        ("ceiling", ceiling_url, None)):
                    asyncio.run(run(url, level, 200, 5, auth))  # warm up, then measure
                    results[(name, level)] = asyncio.run(
                        run(url, level, args.requests, args.seconds, auth))
        finally:
            for helper in helpers:
                helper.terminate()
                helper.wait(10)
    print("\nGET /api/v1/customers/{id} through the gateway (JWT, 1 RPC, 1 indexed read)")
    print("vs. ceiling: plain FastAPI constant, same uvicorn settings (1 worker)")
    print("and RPC floor: plain FastAPI endpoint, one RPC to a no-op service method\n")
    for level in LEVELS:
        print(results[("rpc", level)].line("gateway rpc read"))
        print(results[("floor", level)].line("rpc floor (no-op)"))
        print(results[("ceiling", level)].line("ceiling (constant)"))
    print()
    for level in LEVELS:
        rpc, floor = results[("rpc", level)], results[("floor", level)]
        top = results[("ceiling", level)]
        print(f"c={level:<3} rpc read reaches {100 * rpc.rps / top.rps:5.1f}% of the ceiling"
              f"  (the no-op RPC floor: {100 * floor.rps / top.rps:5.1f}%)")
    r16, r64 = results[("rpc", 16)], results[("rpc", 64)]
    c64 = results[("ceiling", 64)]
    print("\ntargets: >=15% of ceiling at 64 -> "
          f"{'met' if r64.rps >= 0.15 * c64.rps else 'MISSED'}; p99 < 30 ms at 16 -> "
          f"{'met' if r16.pct(0.99) < 30 else 'MISSED'}; p99 < 100 ms at 64 -> "
          f"{'met' if r64.pct(0.99) < 100 else 'MISSED'}")


if __name__ == "__main__":
    main()
