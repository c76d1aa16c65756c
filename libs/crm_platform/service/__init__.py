"""nameko integration: dependency providers, entrypoints and the runner.

Only service processes import this package (it pulls in nameko and eventlet).
"""

import warnings

# eventlet announces its deprecation on import; nameko 2.x needs it, so say it once here
warnings.filterwarnings("ignore", message="\nEventlet is deprecated")
warnings.filterwarnings("ignore", message="Eventlet is deprecated")

from crm_platform.service.entrypoints import event_handler, rpc, timer  # noqa: E402
from crm_platform.service.providers import (  # noqa: E402
    CallerProvider,
    CrmService,
    Instrumentation,
    UnitOfWorkProvider,
)

__all__ = [
    "CallerProvider",
    "CrmService",
    "Instrumentation",
    "UnitOfWorkProvider",
    "event_handler",
    "rpc",
    "timer",
]
