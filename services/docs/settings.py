"""Settings of the documents service (environment, laptop defaults)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from crm_platform.settings import get_settings
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DocsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_DOCS_", extra="ignore")

    # where the bytes live: the local disk (default) or S3-compatible object storage
    storage: Literal["local", "s3"] = "local"
    storage_dir: Path | None = Field(None, description="default: <CRM_VAR_DIR>/docs-blobs")
    s3_endpoint_url: str | None = None
    s3_bucket: str = "crm-documents"
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_part_bytes: int = Field(16 * 1024 * 1024, ge=5 * 1024 * 1024)
    max_upload_bytes: int = Field(2 * 1024 ** 3, ge=1)
    # the content port the gateway streams file bytes through (inside the service)
    content_host: str = "127.0.0.1"
    content_port: int = 8115
    ticket_seconds: int = 300
    # temporary files of uploads untouched this long belong to a dead upload
    temp_grace_seconds: float = 600.0
    # text of files up to this size is extracted for search
    extract_max_bytes: int = 50 * 1024 * 1024
    # tests may move the service's clock (borrowing expiry) through the API
    adjustable_clock: bool = False

    def blob_dir(self) -> Path:
        return self.storage_dir or get_settings().var_dir / "docs-blobs"


@lru_cache(maxsize=1)
def docs_settings() -> DocsSettings:
    return DocsSettings()
