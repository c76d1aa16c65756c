"""The event contract: CloudEvents 1.0 envelope (structured JSON) and event payload base.

An event is published to the topic exchange ``<service>.events`` with routing key equal
to its ``type`` (``customer.created``), so nameko ``@event_handler`` and any AMQP
client can subscribe. The AMQP body is the whole envelope as JSON.
"""

from __future__ import annotations

import builtins
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field

SPEC_VERSION = "1.0"


def exchange_name(service: str) -> str:
    """Same name nameko's EventDispatcher uses, so both worlds meet on one exchange."""
    return f"{service}.events"


class EventData(BaseModel):
    """Base of every event payload. Subclasses set ``event_type`` and ``data_version``.

    Consumers ignore unknown fields, so adding a field is compatible; removing or
    changing one bumps ``data_version``.
    """

    model_config = ConfigDict(extra="ignore")

    event_type: ClassVar[str] = ""
    data_version: ClassVar[str] = "1"
    # name of the payload field that identifies the aggregate (CloudEvents ``subject``)
    subject_field: ClassVar[str | None] = "id"

    def subject(self) -> str | None:
        if self.subject_field is None:
            return None
        value = getattr(self, self.subject_field, None)
        return None if value is None else str(value)


EventDataT = TypeVar("EventDataT", bound=EventData)


class CloudEvent(BaseModel):
    """CloudEvents 1.0 structured-mode envelope with our extensions."""

    model_config = ConfigDict(extra="allow")

    specversion: str = SPEC_VERSION
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    source: str
    type: str
    subject: str | None = None
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    datacontenttype: str = "application/json"
    dataversion: str = "1"
    correlationid: str | None = None
    actor: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def wrap(
        cls,
        service: str,
        payload: EventData,
        *,
        correlation_id: str | None = None,
        actor: str | None = None,
    ) -> CloudEvent:
        return cls(
            source=f"/crm/{service}",
            type=payload.event_type,
            subject=payload.subject(),
            dataversion=payload.data_version,
            correlationid=correlation_id,
            actor=actor,
            data=payload.model_dump(mode="json"),
        )

    def payload(self, model: builtins.type[EventDataT]) -> EventDataT:
        return model.model_validate(self.data)


def event_models(module: Any) -> list[type[EventData]]:
    """Every EventData subclass with an event_type defined in ``module``."""
    found = []
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, EventData)
            and value is not EventData
            and value.event_type
            and value.__module__ == module.__name__
        ):
            found.append(value)
    return sorted(found, key=lambda m: m.event_type)
