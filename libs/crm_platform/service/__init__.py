"""nameko integration: dependency providers, entrypoints and the runner.

Only service processes import this package (it pulls in nameko and eventlet).

The package itself imports nothing eagerly: ``python -m crm_platform.service.run`` loads
this file before ``run`` can monkey-patch eventlet, and a lock or socket bound before the
patch blocks the whole process instead of one greenthread (seen as RPC replies that never
came when a fresh replica received many concurrent calls).
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

# eventlet announces its deprecation on import; nameko 2.x needs it, so say it once here
warnings.filterwarnings("ignore", message="\nEventlet is deprecated")
warnings.filterwarnings("ignore", message="Eventlet is deprecated")

if TYPE_CHECKING:
    from crm_platform.service.entrypoints import (
        batch_event_handler,
        event_handler,
        rpc,
        timer,
    )
    from crm_platform.service.providers import (
        CallerProvider,
        CrmService,
        Instrumentation,
        UnitOfWorkProvider,
    )

_WHERE = {
    "event_handler": "entrypoints", "batch_event_handler": "entrypoints",
    "rpc": "entrypoints", "timer": "entrypoints",
    "CallerProvider": "providers", "CrmService": "providers",
    "Instrumentation": "providers", "UnitOfWorkProvider": "providers",
}

__all__ = ["CallerProvider", "CrmService", "Instrumentation", "UnitOfWorkProvider",
           "batch_event_handler", "event_handler", "rpc", "timer"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(name)
    return getattr(importlib.import_module(f"crm_platform.service.{_WHERE[name]}"), name)
