"""Sales analytics benchmark (issue: sales service).

Starts the platform on PostgreSQL (gateway, customer and sales services; fresh databases
and vhost), loads ``--opportunities`` opportunities (default 500,000) straight into the
sales database with COPY — spread over 50 owners, five stages, open / won / lost, two
years of history — rebuilds the analytics rollups through the admin endpoint (a bulk load
bypasses the per-change maintenance), then measures through the gateway with real tokens:

- ``GET /api/v1/analytics/funnel`` and ``/analytics/forecast`` as an admin (every
  opportunity) and as a sales manager (their team's), and ``/analytics/win-loss`` grouped
  by rep for a year, at 1 and 8 concurrent clients.

    .venv/bin/python bench/sales.py [--opportunities 500000] [--requests 400]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.loadgen import Result, run  # noqa: E402
from tests.support.platform import running_platform  # noqa: E402

LEVELS = (1, 8)
TARGET_P99_MS = 200.0


def load_opportunities(db_url: str, total: int, team_reps: list[str], team_id: str,
                       stage_ids: list[str]) -> float:
    """COPY ``total`` opportunities; returns seconds taken (including ANALYZE)."""
    rng = random.Random(7)
    others = [str(uuid.uuid4()) for _ in range(50 - len(team_reps))]
    owners = [(rep, team_id) for rep in team_reps] + [(o, None) for o in others]
    now = datetime.now(UTC)
    started = time.perf_counter()
    conn = psycopg2.connect(db_url)
    try:
        with conn, conn.cursor() as cur:
            batch = 100_000
            for offset in range(0, total, batch):
                buf = io.StringIO()
                for _ in range(min(batch, total - offset)):
                    owner, team = owners[rng.randrange(len(owners))]
                    created = now - timedelta(days=rng.uniform(0, 730))
                    roll = rng.random()
                    status = "open" if roll < 0.6 else "won" if roll < 0.85 else "lost"
                    closed = created + timedelta(days=rng.uniform(1, 120)) \
                        if status != "open" else None
                    expected = (now + timedelta(days=rng.uniform(-30, 365))).date()
                    amount = Decimal(rng.randrange(100_00, 5_000_000_00)) / 100
                    buf.write("\t".join([
                        str(uuid.uuid4()), "bench opportunity", str(uuid.uuid4()), owner,
                        team or "\\N", str(amount), "CNY", rng.choice(stage_ids),
                        expected.isoformat(), status,
                        "预算" if status == "lost" else "\\N",
                        closed.isoformat() if closed else "\\N", created.isoformat(),
                        created.isoformat(), "1"]) + "\n")
                buf.seek(0)
                cur.copy_from(buf, "opportunities", columns=(
                    "id", "name", "customer_id", "owner_id", "owner_team_id", "amount",
                    "currency", "stage_id", "expected_close_date", "status", "lost_reason",
                    "closed_at", "created_at", "updated_at", "version"))
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("VACUUM ANALYZE opportunities")
    finally:
        conn.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--opportunities", type=int, default=500_000)
    parser.add_argument("--requests", type=int, default=400, help="per level, at most")
    parser.add_argument("--seconds", type=float, default=20.0, help="per level, at most")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running_platform(
        Path(tmp), ["customer", "sales"], CRM_RATE_LIMIT_PER_SECOND="1000000",
        CRM_RATE_LIMIT_BURST="1000000", CRM_LOG_LEVEL="WARNING", CRM_RPC_TIMEOUT="30",
        default_pools=True,
    ) as platform:
        with platform.admin() as admin:
            team = admin.post("/api/v1/teams", json={"name": "压测团队"}).json()
        manager = platform.new_user(["sales_manager"], team_id=team["id"])
        with platform.admin() as admin:
            admin.patch(f"/api/v1/teams/{team['id']}", json={"manager_id": manager["id"]})
        reps = [platform.new_user(["sales_rep"], team_id=team["id"]) for _ in range(5)]
        with platform.admin() as admin:
            stages = [s["id"] for s in admin.get("/api/v1/pipeline-stages").json()["items"]]
        seconds = load_opportunities(platform.db_urls["sales"], args.opportunities,
                                     [r["id"] for r in reps], team["id"], stages)
        print(f"loaded {args.opportunities:,} opportunities in {seconds:.1f} s "
              "(COPY + VACUUM ANALYZE)")
        admin_token = platform.login("admin", "e2e-admin-password")
        started = time.perf_counter()
        with platform.client(admin_token) as admin:
            admin.timeout = httpx.Timeout(300)
            assert admin.post("/api/v1/analytics/rebuild").status_code == 200
        print(f"rebuilt the analytics rollups in {time.perf_counter() - started:.1f} s "
              "(POST /api/v1/analytics/rebuild)")
        base = f"{platform.base_url}/api/v1/analytics"
        year = datetime.now(UTC).year
        cases = [
            ("funnel, admin (all)", f"{base}/funnel", admin_token),
            ("funnel, manager (team)", f"{base}/funnel", manager["token"]),
            ("forecast, admin (all)", f"{base}/forecast", admin_token),
            ("forecast, manager (team)", f"{base}/forecast", manager["token"]),
            ("win-loss by rep, admin", f"{base}/win-loss?group_by=rep&period={year}",
             admin_token),
        ]
        results: list[tuple[str, Result]] = []
        for label, url, token in cases:
            headers = {"Authorization": f"Bearer {token}"}
            asyncio.run(run(url, 2, 10, 10, headers))  # warm up
            for level in LEVELS:
                results.append((label, asyncio.run(
                    run(url, level, args.requests, args.seconds, headers))))
    print(f"\nsales analytics through the gateway over {args.opportunities:,} opportunities\n")
    worst = 0.0
    for label, result in results:
        print(result.line(f"{label:<26}"))
        worst = max(worst, result.pct(0.99))
    print(f"\ntarget: p99 < {TARGET_P99_MS:.0f} ms -> "
          f"{'met' if worst < TARGET_P99_MS else 'MISSED'} (worst p99 {worst:.1f} ms)")


if __name__ == "__main__":
    main()
