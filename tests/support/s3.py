"""A real S3 API for tests: moto's standalone server (``moto[server]``) as a subprocess,
spoken to over HTTP by boto3 exactly as production object storage would be."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.infra import free_port, wait_until

ACCESS_KEY = "testing"
SECRET_KEY = "testing"  # noqa: S105 - moto accepts any credentials
REGION = "us-east-1"


@dataclass
class S3Server:
    endpoint_url: str

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=REGION,
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                            config=Config(s3={"addressing_style": "path"}))

    def env(self, bucket: str) -> dict[str, str]:
        """The documents service's settings for this server."""
        return {"CRM_DOCS_STORAGE": "s3", "CRM_DOCS_S3_ENDPOINT_URL": self.endpoint_url,
                "CRM_DOCS_S3_BUCKET": bucket, "CRM_DOCS_S3_REGION": REGION,
                "CRM_DOCS_S3_ACCESS_KEY_ID": ACCESS_KEY,
                "CRM_DOCS_S3_SECRET_ACCESS_KEY": SECRET_KEY,
                "CRM_DOCS_S3_PART_BYTES": str(5 * 1024 * 1024)}


@contextmanager
def s3_server(log_dir: Path) -> Iterator[S3Server]:
    port = free_port()
    log = open(log_dir / "moto.log", "ab")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                             str(port)], stdout=log, stderr=subprocess.STDOUT)
    server = S3Server(f"http://127.0.0.1:{port}")
    try:
        wait_until(lambda: httpx.get(f"{server.endpoint_url}/moto-api/", timeout=2)
                   .status_code < 500, 60, "moto server")
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
