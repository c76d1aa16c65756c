"""Prometheus metrics shared by every process (one registry per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

ENTRYPOINT_LATENCY = Histogram(
    "crm_entrypoint_latency_seconds",
    "Service entrypoint latency by method and outcome",
    ["service", "entrypoint", "kind", "outcome"],
    buckets=LATENCY_BUCKETS,
)
EVENTS_PUBLISHED = Counter(
    "crm_events_published_total", "Events published (broker confirmed)", ["service", "type"]
)
EVENTS_PUBLISH_FAILED = Counter(
    "crm_events_publish_failed_total", "Outbox publish attempts that failed", ["service"]
)
EVENTS_CONSUMED = Counter(
    "crm_events_consumed_total",
    "Events consumed by outcome (applied, duplicate, ignored: nothing to do, retried, "
    "dead_lettered)",
    ["service", "type", "outcome"],
)
RPC_EXPIRED = Counter(
    "crm_rpc_expired_total",
    "RPC requests dropped unstarted because the caller's deadline had passed",
    ["service", "method"],
)
OUTBOX_BACKLOG = Gauge("crm_outbox_backlog", "Outbox rows not yet published", ["service"])
OUTBOX_OLDEST_AGE = Gauge(
    "crm_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row", ["service"]
)
DLQ_DEPTH = Gauge("crm_dlq_depth", "Messages waiting in dead-letter queues", ["service", "queue"])
HTTP_LATENCY = Histogram(
    "crm_http_request_duration_seconds",
    "Gateway request latency by route and status",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
