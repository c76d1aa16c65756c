"""The gateway's RPC client (``crm_platform.rpc_client``, on aiormq) against a real broker
and a real nameko service: large messages, timeouts, and a broker connection or reply
queue that goes away."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Callable

import pytest
from crm_platform.errors import ServiceUnavailable
from crm_platform.rpc_client import AsyncRpcClient, RemoteError

from tests.reliability.conftest import Ledger

pytestmark = pytest.mark.integration


def test_requests_and_replies_larger_than_a_frame_arrive_whole(ledger: Ledger) -> None:
    # 131,072 bytes a frame: both ways cross several body frames
    payload = "".join(chr(0x4E00 + i % 500) for i in range(150_000))  # 450 KB of UTF-8
    assert ledger.call("echo", payload=payload) == payload
    assert ledger.calls("echo", 6, payload=payload[:70_000]) == [payload[:70_000]] * 6


def test_a_call_that_outlives_its_timeout_is_a_503_in_about_that_time(ledger: Ledger) -> None:
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as err:
        ledger.call("slow_query", timeout=1, seconds=3)
    assert err.value.code == "service_timeout"
    assert 0.9 < time.monotonic() - started < 2.5


def _close_client_connections(vhost: str) -> int:
    """Close this vhost's connections of the RPC client from the broker side; how many."""
    ctl = shutil.which("rabbitmqctl") or "rabbitmqctl"
    listed = subprocess.run([ctl, "-q", "list_connections", "-p", vhost, "pid",
                             "client_properties"], check=True, capture_output=True,
                            text=True, timeout=30).stdout
    closed = 0
    for line in listed.splitlines():
        pid, _, properties = line.partition("\t")
        if '"product","crm-platform"' in properties:
            subprocess.run([ctl, "-q", "close_connection", pid, "test"], check=True,
                           capture_output=True, timeout=30)
            closed += 1
    return closed


def _delete_reply_queues(vhost: str) -> int:
    """Delete this vhost's reply queues of RPC clients (named ``rpc.reply-gateway-…``)."""
    ctl = shutil.which("rabbitmqctl") or "rabbitmqctl"
    listed = subprocess.run([ctl, "-q", "list_queues", "-p", vhost, "name"], check=True,
                            capture_output=True, text=True, timeout=30).stdout
    names = [n for n in listed.split() if n.startswith("rpc.reply-gateway-")]
    for name in names:
        subprocess.run([ctl, "-q", "delete_queue", "-p", vhost, name], check=True,
                       capture_output=True, timeout=30)
    return len(names)


@pytest.mark.parametrize("break_it", [_close_client_connections, _delete_reply_queues],
                         ids=["connection closed", "reply queue deleted"])
def test_calls_in_flight_fail_when_replies_can_no_longer_come_and_the_next_call_reconnects(
        ledger: Ledger, break_it: Callable[[str], int]) -> None:
    vhost = ledger.amqp_uri.rsplit("/", 1)[1]

    async def go() -> None:
        client = AsyncRpcClient(ledger.amqp_uri, default_timeout=20)
        try:
            assert await client.call(ledger.name, "echo", {"payload": "before"}) == "before"
            # long enough to be in flight still when the broker has done it: each
            # rabbitmqctl below may take seconds on a busy machine
            in_flight = asyncio.create_task(
                client.call(ledger.name, "slow_query", {"seconds": 12}))
            await asyncio.sleep(0.5)
            # (with it, any client of earlier tests the broker still lists)
            assert await asyncio.to_thread(break_it, vhost) >= 1
            with pytest.raises(ServiceUnavailable) as err:
                await in_flight
            # not service_timeout: it failed at once, not after its 20 s
            assert err.value.code == "broker_unavailable"
            assert await client.call(ledger.name, "echo", {"payload": "after"}) == "after"
        finally:
            await client.close()

    asyncio.run(go())


def test_concurrent_calls_to_services_that_are_not_running_fail_alone(ledger: Ledger
                                                                      ) -> None:
    """Probing for absent services closes the probe's channel each time (the queue is
    missing); concurrent probes must not break the connection the other calls use."""
    async def go() -> None:
        client = AsyncRpcClient(ledger.amqp_uri, default_timeout=10)
        try:
            calls = [client.call(f"nobody_{i}", "anything", {}) for i in range(4)]
            calls += [client.call(ledger.name, "echo", {"payload": str(i)}) for i in range(4)]
            results = await asyncio.gather(*calls, return_exceptions=True)
            assert [getattr(r, "code", None) for r in results[:4]] == \
                ["service_unavailable"] * 4
            assert results[4:] == ["0", "1", "2", "3"]
            assert client.connected
        finally:
            await client.close()

    asyncio.run(go())


def test_a_call_with_the_wrong_arguments_is_refused_by_the_service(ledger: Ledger) -> None:
    for kwargs in ({"nonsense": 1}, {}, {"payload": "x", "extra": 2}):
        with pytest.raises(RemoteError) as err:
            ledger.call("echo", **kwargs)
        assert err.value.exc_type == "IncorrectSignature"
    assert ledger.call("echo", payload="fine") == "fine"
