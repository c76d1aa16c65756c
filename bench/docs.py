"""Documents benchmark (issue 22, DOC-02): a large file uploaded and downloaded through
the gateway, against a plain copy of the same file on the same disk, in one run.

Starts the platform (gateway + docs service, PostgreSQL, the local-disk blob store in a
temporary directory), writes a source file of ``--size-mib`` random MiB, then measures:

- copy: the source copied to another file on the same disk (``shutil.copyfile``, then
  fsync — the blob store fsyncs what it stores too);
- upload: the source streamed from disk as the body of ``POST
  /api/v1/documents/{id}/versions`` → gateway → content port → blob store;
- download: ``GET …/versions/1/content`` streamed to a file on the same disk, fsynced;

and, for the upload and the download, how much the gateway's and the docs service's
resident memory grew above what it was just before (the kernel's peak RSS, reset before
each transfer through ``/proc/<pid>/clear_refs``). Prints one table.

    .venv/bin/python bench/docs.py [--size-mib 1024]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.platform import Platform, running_platform  # noqa: E402

MIB = 1024 * 1024
CHUNK = MIB


def _status(pid: int, field: str) -> int:
    """A /proc/<pid>/status figure in bytes (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS


class Growth:
    """Peak resident memory of some processes during a block, above their RSS at its
    start."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.start: dict[str, int] = {}
        self.growth: dict[str, int] = {}

    def __enter__(self) -> Growth:
        for name, pid in self.pids.items():
            _reset_peak(pid)
            self.start[name] = _status(pid, "VmRSS")
        return self

    def __exit__(self, *_exc: object) -> None:
        for name, pid in self.pids.items():
            self.growth[name] = _status(pid, "VmHWM") - self.start[name]


def _write_source(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        for _ in range(size // CHUNK):
            block = os.urandom(CHUNK)
            digest.update(block)
            out.write(block)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def _timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _copy(source: Path, target: Path) -> None:
    shutil.copyfile(source, target)
    with open(target, "rb+") as handle:
        os.fsync(handle.fileno())


def _file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def _drop_cache(path: Path) -> None:
    """Out of the page cache, so each transfer reads the disk as the copy does."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def run(platform: Platform, work: Path, size: int) -> dict[str, object]:
    source = work / "source.bin"
    digest = _write_source(source, size)
    pids = {"gateway": platform.procs["gateway"].popen.pid,  # type: ignore[union-attr]
            "docs": platform.procs["docs"].popen.pid}  # type: ignore[union-attr]
    load_before = os.getloadavg()

    _drop_cache(source)
    copy_seconds = _timed(lambda: _copy(source, work / "copy.bin"))
    (work / "copy.bin").unlink()

    client = platform.admin()
    client.timeout = httpx.Timeout(None)
    doc = client.post("/api/v1/documents", json={"title": "基准大文件", "category": "contract"})
    assert doc.status_code == 201, doc.text
    doc_id = doc.json()["id"]

    _drop_cache(source)
    with Growth(pids) as upload_growth:
        def upload() -> None:
            r = client.post(f"/api/v1/documents/{doc_id}/versions",
                            params={"filename": "基准.bin"}, content=_file_chunks(source),
                            headers={"Content-Length": str(size),
                                     "Content-Type": "application/octet-stream"})
            assert r.status_code == 201, r.text
            assert r.json()["sha256"] == digest
        upload_seconds = _timed(upload)

    target = work / "downloaded.bin"
    blob = Path(platform.env["CRM_DOCS_STORAGE_DIR"]) / "objects" / digest[:2] / digest[2:4] \
        / digest
    _drop_cache(blob)
    with Growth(pids) as download_growth:
        def download() -> None:
            with client.stream("GET", f"/api/v1/documents/{doc_id}/versions/1/content") as r, \
                    open(target, "wb") as out:
                assert r.status_code == 200
                for chunk in r.iter_raw(CHUNK):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        download_seconds = _timed(download)
    assert target.stat().st_size == size
    client.close()
    return {
        "size_mib": size // MIB, "digest": digest, "copy_s": copy_seconds,
        "upload_s": upload_seconds, "download_s": download_seconds,
        "upload_growth": upload_growth.growth, "download_growth": download_growth.growth,
        "load_before": load_before, "load_after": os.getloadavg(),
    }


def report(result: dict[str, object]) -> None:
    size = int(result["size_mib"])  # type: ignore[call-overload]
    copy_s = float(result["copy_s"])  # type: ignore[arg-type]
    rows = [("plain copy (same disk, fsync)", copy_s, None)]
    for name in ("upload", "download"):
        rows.append((f"{name} through the gateway", float(result[f"{name}_s"]),  # type: ignore[arg-type]
                     result[f"{name}_growth"]))
    print(f"\ndocuments benchmark: {size} MiB, load average before "
          f"{'/'.join(f'{x:.2f}' for x in result['load_before'])}, after "  # type: ignore[attr-defined]
          f"{'/'.join(f'{x:.2f}' for x in result['load_after'])}")  # type: ignore[attr-defined]
    print("| transfer | seconds | MiB/s | vs copy | gateway RSS growth | docs RSS growth |")
    print("|---|---|---|---|---|---|")
    for name, seconds, growth in rows:
        ratio = copy_s / seconds
        mem = ("—", "—") if growth is None else (
            f"{growth['gateway'] / MIB:.1f} MiB", f"{growth['docs'] / MIB:.1f} MiB")  # type: ignore[index]
        print(f"| {name} | {seconds:.2f} | {size / seconds:.0f} | {ratio:.0%} | "
              f"{mem[0]} | {mem[1]} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=REPO / "var" if (REPO / "var").exists() else None
                                     ) as tmp, running_platform(
            Path(tmp), ["docs"], CRM_LOG_LEVEL="WARNING", default_pools=True,
            CRM_RATE_LIMIT_PER_SECOND="1000000", CRM_RATE_LIMIT_BURST="1000000") as platform:
        work = Path(tmp) / "work"
        work.mkdir()
        report(run(platform, work, args.size_mib * MIB))


if __name__ == "__main__":
    main()
