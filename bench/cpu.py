"""Where a benchmark's CPU went, from /proc — the machine's own accounting, robust to a
noisy machine in a way wall-clock figures are not.

:func:`snapshot` reads the CPU used so far by each process of a running platform (the
gateway's and each service's process tree), by the PostgreSQL backends connected to the
platform's databases, by RabbitMQ (the node is shared with anything else on the
machine), by the benchmark itself (the load generator) and by the whole machine
(``/proc/stat``: every process, including other users'); :func:`per_operation` turns two
snapshots into milliseconds of CPU per operation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import psycopg2

_TICK = os.sysconf("SC_CLK_TCK")


def processes() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent pid, command name, CPU seconds so far)."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2:].split()
        table[int(entry)] = (int(fields[1]), comm, (int(fields[11]) + int(fields[12])) / _TICK)
    return table


def machine_seconds() -> float:
    """CPU seconds the whole machine was busy since boot (all but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / _TICK


def dsn(url: str) -> str:
    rest = url.split("://", 1)[1]
    userhost, dbname = rest.rsplit("/", 1)
    user, hostport = userhost.split("@", 1)
    host, _, port = hostport.partition(":")
    return f"host={host} port={port or 5432} user={user} dbname={dbname}"


@dataclass
class Snapshot:
    components: dict[str, dict[int, float]]  # component -> pid -> CPU seconds so far
    machine: float

    def names(self) -> list[str]:
        return [*self.components, "machine"]


def snapshot(roots: dict[str, int], db_urls: dict[str, str]) -> Snapshot:
    """``roots``: component -> pid of its root process (its children count with it);
    ``db_urls``: the databases whose backends are counted as ``postgres``."""
    table = processes()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)

    def tree(root: int) -> dict[int, float]:
        out, stack = {}, [root]
        while stack:
            pid = stack.pop()
            if pid in table:
                out[pid] = table[pid][2]
            stack.extend(children.get(pid, []))
        return out

    url = next(iter(db_urls.values()))
    conn = psycopg2.connect(dsn(url))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = ANY(%s) "
                        "AND pid <> pg_backend_pid()",
                        ([u.rsplit("/", 1)[1] for u in db_urls.values()],))
            backends = {int(row[0]) for row in cur.fetchall()}
    finally:
        conn.close()
    components = {name: tree(pid) for name, pid in roots.items()}
    components["postgres"] = {pid: table[pid][2] for pid in backends if pid in table}
    components["rabbitmq"] = {pid: cpu for pid, (_, comm, cpu) in table.items()
                              if comm.startswith(("beam", "erl_", "epmd"))}
    components["bench"] = {os.getpid(): table[os.getpid()][2]}
    return Snapshot(components, machine_seconds())


def per_operation(before: Snapshot, after: Snapshot, n: int) -> dict[str, float]:
    """CPU milliseconds per operation by component, then ``platform`` (their sum) and
    ``machine``; a process that ended between the snapshots is not counted, one that
    started is counted whole (a backend opened during the run)."""
    out = {name: 1000 * sum(cpu - before.components.get(name, {}).get(pid, 0.0)
                            for pid, cpu in pids.items()) / max(1, n)
           for name, pids in after.components.items()}
    out["platform"] = sum(v for k, v in out.items() if k != "bench")
    out["machine"] = 1000 * (after.machine - before.machine) / max(1, n)
    return out
