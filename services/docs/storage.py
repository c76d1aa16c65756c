"""Blob stores (DOC-06): where a version's bytes live, by checksum.

Both stores keep one promise: a blob is visible under its real name only once it is
complete. An upload is received into a temporary object while its SHA-256 is computed
(the bytes pass once, in bounded chunks; nothing holds the whole file), then promoted
to ``objects/<sha256>``:

- :class:`LocalBlobStore`: a temporary file, fsynced, renamed into place (atomic on one
  file system); a crash leaves at most a temporary file, which the sweep removes;
- :class:`S3BlobStore`: a multipart upload to ``tmp/<id>`` (invisible until completed),
  then a server-side copy to the real key; the sweep aborts stale multipart uploads and
  removes stale temporary objects.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from crm_platform.errors import PayloadTooLarge

from services.docs.domain.content import SNIFF_BYTES
from services.docs.settings import DocsSettings

CHUNK = 1024 * 1024


@dataclass
class StagedBlob:
    """An upload received in full into a temporary object, not yet under its name."""

    temp_name: str
    sha256: str
    size: int
    head: bytes
    extra: dict[str, Any] = field(default_factory=dict)


class BlobStore(Protocol):
    def receive(self, chunks: Iterable[bytes], max_bytes: int) -> StagedBlob: ...
    def promote(self, staged: StagedBlob) -> None: ...
    def discard(self, staged: StagedBlob) -> None: ...
    def exists(self, sha256: str) -> bool: ...
    def read(self, sha256: str, start: int = 0, end: int | None = None
             ) -> Iterator[bytes]: ...
    def delete(self, sha256: str) -> None: ...
    def sweep_temporary(self, older_than_seconds: float) -> int: ...


class _Digest:
    """Counts, hashes and keeps the first bytes (for sniffing) of a stream; refuses it
    past ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.hash = hashlib.sha256()
        self.size = 0
        self.head = b""

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise PayloadTooLarge(f"the file is larger than {self.max_bytes} bytes",
                                  extra={"max_bytes": self.max_bytes})
        if len(self.head) < SNIFF_BYTES:
            self.head += chunk[:SNIFF_BYTES - len(self.head)]
        self.hash.update(chunk)


def _valid(sha256: str) -> str:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError("not a SHA-256 checksum")
    return sha256


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / "objects"
        self.tmp = root / "tmp"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        _valid(sha256)
        return self.objects / sha256[:2] / sha256[2:4] / sha256

    def receive(self, chunks: Iterable[bytes], max_bytes: int) -> StagedBlob:
        temp = self.tmp / f"{uuid.uuid4().hex}.part"
        digest = _Digest(max_bytes)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        try:
            for chunk in chunks:
                digest.add(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        os.close(fd)
        return StagedBlob(temp.name, digest.hash.hexdigest(), digest.size, digest.head)

    def promote(self, staged: StagedBlob) -> None:
        target = self.path(staged.sha256)
        temp = self.tmp / staged.temp_name
        if target.exists():  # the same bytes are stored already
            temp.unlink(missing_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, target)
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself survives a power cut
        finally:
            os.close(dir_fd)

    def discard(self, staged: StagedBlob) -> None:
        (self.tmp / staged.temp_name).unlink(missing_ok=True)

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def read(self, sha256: str, start: int = 0, end: int | None = None
             ) -> Iterator[bytes]:
        """Bytes ``start`` … ``end`` (inclusive; None: to the end) in bounded chunks."""
        path = self.path(sha256)
        handle = open(path, "rb")  # noqa: SIM115 - closed by the generator
        return _file_chunks(handle, start, end)

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def sweep_temporary(self, older_than_seconds: float) -> int:
        cutoff = time.time() - older_than_seconds
        removed = 0
        for temp in self.tmp.glob("*.part"):
            with contextlib.suppress(FileNotFoundError):
                if temp.stat().st_mtime < cutoff:
                    temp.unlink()
                    removed += 1
        return removed

    def temporary_names(self) -> list[str]:
        return sorted(p.name for p in self.tmp.glob("*.part"))


def reads(read: Callable[[int], bytes], length: int | None) -> Iterator[bytes]:
    """``read(n)`` called for at most ``CHUNK`` bytes at a time, until ``length`` bytes
    (None: until it returns nothing): a file, a request body."""
    remaining = length
    while remaining is None or remaining > 0:
        chunk = read(CHUNK if remaining is None else min(CHUNK, remaining))
        if not chunk:
            return
        if remaining is not None:
            remaining -= len(chunk)
        yield chunk


def _file_chunks(handle: Any, start: int, end: int | None) -> Iterator[bytes]:
    with handle:
        handle.seek(start)
        yield from reads(handle.read, None if end is None else end - start + 1)


class S3BlobStore:
    """S3-compatible object storage through boto3. Parts of ``part_bytes`` are the only
    bytes held in memory during an upload."""

    def __init__(self, client: Any, bucket: str, part_bytes: int = 16 * 1024 * 1024,
                 prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.part_bytes = part_bytes
        self.prefix = prefix

    def key(self, sha256: str) -> str:
        return f"{self.prefix}objects/{_valid(sha256)}"

    def _temp_key(self, name: str) -> str:
        return f"{self.prefix}tmp/{name}"

    def receive(self, chunks: Iterable[bytes], max_bytes: int) -> StagedBlob:
        # the start time in the name: the sweep ages uploads by it (servers differ in
        # what they report as an upload's start)
        name = f"{int(time.time())}-{uuid.uuid4().hex}"
        key = self._temp_key(name)
        digest = _Digest(max_bytes)
        upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]
        parts: list[dict[str, Any]] = []
        pending: list[bytes] = []
        held = 0

        def send(data: bytes) -> None:
            number = len(parts) + 1
            answer = self.client.upload_part(Bucket=self.bucket, Key=key, PartNumber=number,
                                             UploadId=upload_id, Body=data)
            parts.append({"PartNumber": number, "ETag": answer["ETag"]})

        try:
            for chunk in chunks:
                digest.add(chunk)
                pending.append(chunk)
                held += len(chunk)
                if held >= self.part_bytes:
                    joined = b"".join(pending)
                    pending.clear()
                    send(joined[:self.part_bytes])
                    rest = joined[self.part_bytes:]
                    del joined
                    pending, held = ([rest], len(rest)) if rest else ([], 0)
            if pending or not parts:
                send(b"".join(pending))
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id,
                MultipartUpload={"Parts": parts})
        except BaseException:
            with contextlib.suppress(Exception):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key,
                                                   UploadId=upload_id)
            raise
        return StagedBlob(name, digest.hash.hexdigest(), digest.size, digest.head)

    def promote(self, staged: StagedBlob) -> None:
        temp = self._temp_key(staged.temp_name)
        if not self.exists(staged.sha256):
            # managed copy: one CopyObject, or a multipart copy past 5 GB
            self.client.copy({"Bucket": self.bucket, "Key": temp}, self.bucket,
                             self.key(staged.sha256))
        self.client.delete_object(Bucket=self.bucket, Key=temp)

    def discard(self, staged: StagedBlob) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._temp_key(staged.temp_name))

    def exists(self, sha256: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(sha256))
            return True
        except self.client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def read(self, sha256: str, start: int = 0, end: int | None = None
             ) -> Iterator[bytes]:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key(sha256)}
        if start or end is not None:
            args["Range"] = f"bytes={start}-{'' if end is None else end}"
        body = self.client.get_object(**args)["Body"]
        return _closing_chunks(body)

    def delete(self, sha256: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key(sha256))

    def sweep_temporary(self, older_than_seconds: float) -> int:
        cutoff = time.time() - older_than_seconds
        prefix = self._temp_key("")

        def stale(key: str) -> bool:
            started = key[len(prefix):].split("-", 1)[0]
            return not started.isdigit() or int(started) < cutoff

        removed = 0
        uploads = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=prefix)
        for upload in uploads.get("Uploads", []):
            if stale(upload["Key"]):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"],
                                                   UploadId=upload["UploadId"])
                removed += 1
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix)
        for page in pages:
            for item in page.get("Contents", []):
                if stale(item["Key"]):
                    self.client.delete_object(Bucket=self.bucket, Key=item["Key"])
                    removed += 1
        return removed

    def temporary_names(self) -> list[str]:
        prefix = self._temp_key("")
        names = [item["Key"][len(prefix):] for page in self.client.get_paginator(
            "list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
            for item in page.get("Contents", [])]
        uploads = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=prefix)
        names += [u["Key"][len(prefix):] for u in uploads.get("Uploads", [])]
        return sorted(names)


def _closing_chunks(body: Any) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK)
    finally:
        body.close()


def s3_client(settings: DocsSettings) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=settings.s3_secret_access_key,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}))


def make_store(settings: DocsSettings,
               client_factory: Callable[[DocsSettings], Any] = s3_client) -> BlobStore:
    if settings.storage == "s3":
        client = client_factory(settings)
        with contextlib.suppress(client.exceptions.ClientError):
            client.create_bucket(Bucket=settings.s3_bucket)  # exists already: fine
        return S3BlobStore(client, settings.s3_bucket, settings.s3_part_bytes)
    return LocalBlobStore(settings.blob_dir())
