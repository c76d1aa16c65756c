"""A PostgreSQL server of the benchmark's own: a fresh cluster in a temporary directory,
on a free port, with the settings the benchmark names — so that a figure depends on
settings written in the repository, not on how the machine's server happens to be
configured. The binaries are the machine's (``pg_config --bindir``, or Debian's
``/usr/lib/postgresql/<version>/bin``); run as root, the cluster belongs to the
``postgres`` user, as PostgreSQL requires."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# The machine's server as Debian configures it (autovacuum off, UTC, C.UTF-8), apart
# from what a benchmark sets.
BASE_SETTINGS = {
    "listen_addresses": "127.0.0.1", "autovacuum": "off", "TimeZone": "Etc/UTC",
    "max_connections": "100", "max_wal_size": "1GB", "fsync": "on",
}


@dataclass(frozen=True)
class Server:
    port: int
    settings: dict[str, str]

    @property
    def url_base(self) -> str:  # SQLAlchemy URL without the database
        return f"postgresql://postgres@127.0.0.1:{self.port}"

    @property
    def admin_dsn(self) -> str:  # libpq DSN of the maintenance database
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"


def _bindir() -> Path:
    found = shutil.which("pg_config")
    if found:
        out = subprocess.run([found, "--bindir"], capture_output=True, text=True, check=False)
        candidate = Path(out.stdout.strip())
        if (candidate / "initdb").exists():
            return candidate
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: int(Path(p).parts[-3]))
    if not versions:
        raise RuntimeError("no PostgreSQL server binaries (initdb) found on this machine")
    return Path(versions[-1]).parent


def _as_owner(command: list[str], owner: str | None) -> list[str]:
    return ["runuser", "-u", owner, "--", *command] if owner else command


@contextlib.contextmanager
def private_postgres(port: int, settings: dict[str, str]) -> Iterator[Server]:
    """A running server with ``BASE_SETTINGS`` and ``settings``, removed afterwards."""
    bindir = _bindir()
    owner = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="crm-bench-pg-"))
    data = root / "data"
    if owner:
        user = pwd.getpwnam(owner)
        os.chown(root, user.pw_uid, user.pw_gid)
    all_settings = {**BASE_SETTINGS, **settings, "port": str(port),
                    "unix_socket_directories": str(root)}

    def pg_ctl(*args: str, check: bool = True) -> None:
        subprocess.run(_as_owner([str(bindir / "pg_ctl"), "-D", str(data), *args], owner),
                       check=check, capture_output=True, timeout=300)

    def start(with_settings: dict[str, str]) -> None:
        options = " ".join(f"-c {name}={value}" for name, value in with_settings.items())
        pg_ctl("-l", str(root / "server.log"), "-o", options, "-w", "-t", "60", "start")

    try:
        subprocess.run(_as_owner([str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
                                  "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"], owner),
                       check=True, capture_output=True, timeout=120)
        start(all_settings)
        yield Server(port, all_settings)
    finally:
        with contextlib.suppress(Exception):
            pg_ctl("-m", "fast", "-w", "stop", check=False)
        shutil.rmtree(root, ignore_errors=True)
