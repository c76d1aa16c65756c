"""S3 / S6 pieces without I/O: formula cells in exports are escaped, failed sign-ins are
throttled per username and per address."""

from __future__ import annotations

import csv
import io

import pytest
from crm_platform.errors import RateLimited
from crm_platform.spreadsheet import SafeWriter, safe_cell

from gateway.runtime import LoginThrottle


@pytest.mark.parametrize("cell", ["=cmd|' /C calc'!A0", "+SUM(A1:A2)", "-2+3",
                                  "@SUM(A1)", "\t=1+1", "\r=1", "=HYPERLINK(\"x\")"])
def test_a_formula_cell_is_written_as_text(cell: str) -> None:
    assert safe_cell(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["+86 139 0000 0000", "-12.50", "云帆科技", "a=b", "", 42,
                                  None])
def test_plain_values_are_left_alone(cell: object) -> None:
    assert safe_cell(cell) == cell


def test_the_writer_escapes_every_cell() -> None:
    out = io.StringIO()
    SafeWriter(out).writerow(["=1+1", "名称", "@x"])
    assert next(csv.reader(io.StringIO(out.getvalue()))) == ["'=1+1", "名称", "'@x"]


def test_failed_sign_ins_are_throttled_per_username_and_cleared_by_success() -> None:
    throttle = LoginThrottle(per_username=3, per_address=100, window_seconds=60)
    for _ in range(3):
        throttle.check("Alice", "10.0.0.1")
        throttle.failed("Alice", "10.0.0.1")
    with pytest.raises(RateLimited) as refused:
        throttle.check("alice", "10.0.0.2")  # the name, whatever the case or address
    assert refused.value.code == "login_rate_limited"
    assert refused.value.extra["retry_after"] >= 1
    throttle.check("bob", "10.0.0.1")  # another name from the same address is not
    throttle.succeeded("alice")
    throttle.check("alice", "10.0.0.1")


def test_failed_sign_ins_are_throttled_per_address() -> None:
    throttle = LoginThrottle(per_username=100, per_address=2, window_seconds=60)
    for name in ("a", "b"):
        throttle.failed(name, "10.0.0.9")
    with pytest.raises(RateLimited):
        throttle.check("c", "10.0.0.9")
    throttle.check("c", "10.0.0.10")
