"""Events played by a test as their publishing service would send them: built through the
service's own event model (the contract in ``contracts/``), so a test that sends less
than the contract fails where it sends, as a consumer would fail on it."""

from __future__ import annotations

from typing import Any

from crm_platform.amqp import ConfirmedPublisher
from crm_platform.events import CloudEvent, EventData, event_models

import gateway.events
import services.billing.events
import services.customer.events
import services.sales.events

MODELS: dict[str, type[EventData]] = {
    model.event_type: model
    for module in (gateway.events, services.customer.events, services.sales.events,
                   services.billing.events)
    for model in event_models(module)}


def send_event(amqp_uri: str, source: str, event_type: str, data: dict[str, Any],
               times: int = 2) -> str:
    """Publish ``data`` as ``source``'s ``event_type`` onto ``<source>.events``, ``times``
    times under one event id (a consumer must apply it once); returns the id."""
    event = CloudEvent.wrap(source, MODELS[event_type].model_validate(data))
    publisher = ConfirmedPublisher(amqp_uri)
    try:
        body = event.model_dump_json()
        for _ in range(times):
            publisher.publish(exchange=f"{source}.events", routing_key=event_type, body=body,
                              message_id=event.id)
    finally:
        publisher.close()
    return event.id
