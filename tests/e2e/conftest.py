"""End-to-end fixtures: the whole platform, started once per test session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.sales_support import org
from tests.support.platform import Platform, running_platform

__all__ = ["Platform", "org"]


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with running_platform(tmp_path_factory.mktemp("platform")) as running:
        yield running


@pytest.fixture(scope="session")
def openapi(platform: Platform) -> dict[str, Any]:
    """The gateway's OpenAPI document, which the generated tests walk."""
    return dict(httpx.get(f"{platform.base_url}/openapi.json", timeout=30).json())
