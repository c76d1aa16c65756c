"""What every use case of the notification service shares."""

from __future__ import annotations

from typing import Any


def out(model: type[Any], row: Any) -> dict[str, Any]:
    """A row as the schema ``model`` returns it, in JSON form."""
    return dict(model.model_validate(row, from_attributes=True).model_dump(mode="json"))
