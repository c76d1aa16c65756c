"""The documents service killed with SIGKILL in the middle of an upload (issue 22), on
the local disk and on S3 (moto's server): afterwards no partial object is visible under
a real name, no version row exists for it, the temporary object is swept once the
service is back, and the same upload then succeeds."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.support.infra import wait_until
from tests.support.platform import Platform, running_platform
from tests.support.s3 import S3Server, s3_server

API = "/api/v1"
CHUNK = 256 * 1024


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with s3_server(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture(params=["local", "s3"])
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    extra = {"CRM_DOCS_TEMP_GRACE_SECONDS": "1"}
    if request.param == "s3":
        server: S3Server = request.getfixturevalue("s3")
        extra.update(server.env(f"crash-{os.urandom(4).hex()}"))
    with running_platform(tmp_path, ["docs"], **extra) as running:
        yield running


def _scalar(url: str, sql: str, **params: Any) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql), params).scalar() or 0)
    finally:
        engine.dispose()


def _stored(platform: Platform) -> tuple[list[str], list[str]]:
    """(objects under their real names, temporary objects) in the platform's store."""
    if platform.env.get("CRM_DOCS_STORAGE") == "s3":
        server = S3Server(platform.env["CRM_DOCS_S3_ENDPOINT_URL"])
        client, bucket = server.client(), platform.env["CRM_DOCS_S3_BUCKET"]
        keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
        uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        return ([k for k in keys if k.startswith("objects/")],
                [k for k in keys if k.startswith("tmp/")] + [u["Key"] for u in uploads])
    root = Path(platform.env["CRM_DOCS_STORAGE_DIR"])
    return ([p.name for p in (root / "objects").rglob("*") if p.is_file()],
            [p.name for p in (root / "tmp").glob("*")])


def test_docs_killed_during_an_upload(platform: Platform) -> None:
    data = os.urandom(48 * 1024 * 1024)
    digest = hashlib.sha256(data).hexdigest()
    with platform.admin() as admin:
        doc = admin.post(f"{API}/documents", json={"title": "大文件", "category": "contract"})
        assert doc.status_code == 201, doc.text
    doc_id = doc.json()["id"]
    sent = [0]
    half_sent = threading.Event()

    def slow_body() -> Iterator[bytes]:
        for start in range(0, len(data), CHUNK):
            sent[0] += CHUNK
            if sent[0] >= len(data) // 2:
                half_sent.set()
                time.sleep(0.01)  # the second half trickles, so the kill lands mid-stream
            yield data[start:start + CHUNK]

    outcome: dict[str, Any] = {}

    def upload() -> None:
        try:
            with platform.admin() as admin:
                outcome["response"] = admin.post(
                    f"{API}/documents/{doc_id}/versions", params={"filename": "大文件.bin"},
                    content=slow_body(), timeout=120)
        except httpx.HTTPError as exc:
            outcome["error"] = exc

    uploader = threading.Thread(target=upload, daemon=True)
    uploader.start()
    assert half_sent.wait(60), "the upload did not get going"
    wait_until(lambda: _stored(platform)[1], 30, "a temporary object being written")
    platform.procs["docs"].kill()
    uploader.join(120)
    response = outcome.get("response")
    assert response is None or response.status_code >= 500, response and response.text

    objects, temporary = _stored(platform)
    assert objects == []  # nothing under a real name
    docs_db = platform.db_urls["docs"]
    assert _scalar(docs_db, "SELECT count(*) FROM document_versions") == 0
    assert _scalar(docs_db, "SELECT count(*) FROM blobs") == 0

    platform.procs["docs"].start()
    platform.wait_service_ready("docs")
    wait_until(lambda: _stored(platform)[1] == [], 60, "temporary objects swept")

    with platform.admin() as admin:
        again = admin.post(f"{API}/documents/{doc_id}/versions", params={"filename": "大文件.bin"},
                           content=data, timeout=120)
        assert again.status_code == 201, again.text
        assert again.json()["sha256"] == digest and again.json()["number"] == 1
    assert _stored(platform)[0] == [digest] or _stored(platform)[0] == [f"objects/{digest}"]
    assert _scalar(docs_db, "SELECT count(*) FROM document_versions") == 1
