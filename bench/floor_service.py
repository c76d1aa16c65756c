"""The RPC floor for the gateway benchmark: a service on the platform's own machinery
(``CrmService``: metrics, caller, the RPC entrypoint and reply path every service uses)
whose one method does nothing, so a call through it costs only the transport."""

from __future__ import annotations

from crm_platform.service import CrmService, rpc


class FloorService(CrmService):
    name = "bench_floor"

    @rpc
    def ping(self) -> dict[str, bool]:
        return {"pong": True}
