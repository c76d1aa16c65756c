"""One storage suite for both blob stores (DOC-06): the local disk, and S3 through boto3
against a real S3 API server (moto's standalone server, started here)."""

from __future__ import annotations

import hashlib
import os
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from crm_platform.errors import PayloadTooLarge

from services.docs.storage import CHUNK, BlobStore, LocalBlobStore, S3BlobStore
from tests.support.s3 import S3Server, s3_server

PART = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with s3_server(tmp_path_factory.mktemp("moto")) as server:
        yield server


def _abandon_local(store: LocalBlobStore) -> None:
    """What a process killed mid-upload leaves: a temporary file, last written a while
    ago."""
    temp = store.tmp / f"{uuid.uuid4().hex}.part"
    temp.write_bytes(b"half a file")
    past = time.time() - 3600
    os.utime(temp, (past, past))


def _abandon_s3(store: S3BlobStore) -> None:
    key = f"tmp/{int(time.time()) - 3600}-{uuid.uuid4().hex}"
    upload = store.client.create_multipart_upload(Bucket=store.bucket, Key=key)
    store.client.upload_part(Bucket=store.bucket, Key=key, PartNumber=1,
                             UploadId=upload["UploadId"], Body=b"half a file")


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path
          ) -> tuple[BlobStore, Callable[[], None]]:
    if request.param == "local":
        local = LocalBlobStore(tmp_path / "blobs")
        return local, lambda: _abandon_local(local)
    server: S3Server = request.getfixturevalue("s3")
    client = server.client()
    bucket = f"docs-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=bucket)
    remote = S3BlobStore(client, bucket, PART)
    return remote, lambda: _abandon_s3(remote)


def _chunks(data: bytes, size: int = 256 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


def _names(store: Any) -> list[str]:
    return list(store.temporary_names())


def test_a_blob_is_stored_by_checksum_and_read_back_in_ranges(
        store: tuple[BlobStore, Any]) -> None:
    blobs, _ = store
    data = os.urandom(2 * PART + 12345)  # several S3 parts, the last one short
    staged = blobs.receive(_chunks(data), 10 * PART)
    assert staged.sha256 == hashlib.sha256(data).hexdigest() and staged.size == len(data)
    assert staged.head == data[:len(staged.head)] and len(staged.head) == 8192
    assert not blobs.exists(staged.sha256)  # not under its name until promoted
    blobs.promote(staged)
    assert blobs.exists(staged.sha256) and _names(blobs) == []
    assert b"".join(blobs.read(staged.sha256)) == data
    assert b"".join(blobs.read(staged.sha256, 5, 9)) == data[5:10]
    assert b"".join(blobs.read(staged.sha256, PART - 3, PART + 2)) == data[PART - 3:PART + 3]
    assert b"".join(blobs.read(staged.sha256, len(data) - 4)) == data[-4:]
    assert all(len(c) <= CHUNK for c in blobs.read(staged.sha256))


def test_the_same_bytes_twice_are_one_blob(store: tuple[BlobStore, Any]) -> None:
    blobs, _ = store
    first = blobs.receive(_chunks(b"same bytes"), 100)
    second = blobs.receive(_chunks(b"same bytes"), 100)
    blobs.promote(first)
    blobs.promote(second)
    assert first.sha256 == second.sha256 and _names(blobs) == []
    assert b"".join(blobs.read(first.sha256)) == b"same bytes"
    blobs.delete(first.sha256)
    assert not blobs.exists(first.sha256)
    blobs.delete(first.sha256)  # removing what is gone is no error


def test_an_empty_file(store: tuple[BlobStore, Any]) -> None:
    blobs, _ = store
    staged = blobs.receive(iter(()), 100)
    blobs.promote(staged)
    assert staged.size == 0 and staged.sha256 == hashlib.sha256(b"").hexdigest()
    assert b"".join(blobs.read(staged.sha256)) == b""


def test_too_large_or_broken_uploads_leave_nothing(store: tuple[BlobStore, Any]) -> None:
    blobs, _ = store
    data = os.urandom(PART + 10)
    with pytest.raises(PayloadTooLarge):
        blobs.receive(_chunks(data), PART)
    assert not blobs.exists(hashlib.sha256(data).hexdigest()) and _names(blobs) == []

    def broken() -> Iterator[bytes]:
        yield data[:PART + 1]
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        blobs.receive(broken(), 10 * PART)
    assert _names(blobs) == []
    staged = blobs.receive(_chunks(b"kept aside"), 100)
    blobs.discard(staged)
    assert _names(blobs) == [] and not blobs.exists(staged.sha256)


def test_the_sweep_removes_what_interrupted_uploads_left(store: tuple[BlobStore, Any]
                                                         ) -> None:
    blobs, abandon = store
    abandon()
    live = blobs.receive(_chunks(b"in flight"), 100)  # just written: not stale
    assert len(_names(blobs)) == 2
    assert blobs.sweep_temporary(older_than_seconds=600) == 1
    assert _names(blobs) == [live.temp_name]
    blobs.promote(live)
    assert _names(blobs) == []


def test_memory_stays_bounded_while_a_large_file_streams(store: tuple[BlobStore, Any]
                                                         ) -> None:
    """The store holds a chunk (local) or a part (S3) at a time, never the file."""
    blobs, _ = store
    size = 8 * PART
    block = os.urandom(CHUNK)

    def stream() -> Iterator[bytes]:
        for _ in range(size // CHUNK):
            yield block

    tracemalloc.start()
    try:
        staged = blobs.receive(stream(), size)
        blobs.promote(staged)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert staged.size == size
    # a part in the making, the part being sent and the client's own copy of it
    assert peak < 4 * PART, f"peak {peak} bytes while storing {size}"
