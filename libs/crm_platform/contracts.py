"""Generate ``contracts/`` from the event models: one JSON Schema per event type and one
AsyncAPI 2.6 document; and the catalogue of error codes (:mod:`crm_platform.error_codes`).
``check`` fails when the checked-in files are stale (CI runs it).

    python -m crm_platform.contracts write|check
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

from crm_platform import error_codes
from crm_platform.events import CloudEvent, EventData, event_models, exchange_name
from crm_platform.settings import REPO_ROOT

PUBLISHERS = ("gateway", "customer", "sales", "billing", "service_desk", "docs", "notify")
CONTRACTS_DIR = REPO_ROOT / "contracts"


def publisher_modules() -> dict[str, Any]:
    found = {}
    for name in PUBLISHERS:
        module_name = "gateway.events" if name == "gateway" else f"services.{name}.events"
        try:
            found[name] = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_name.startswith(exc.name):
                continue
            raise
    return found


def event_schema(service: str, model: type[EventData]) -> dict[str, Any]:
    envelope = CloudEvent.model_json_schema()
    data = model.model_json_schema(ref_template="#/$defs/{model}")
    defs = data.pop("$defs", {})
    envelope["properties"]["data"] = data
    envelope["properties"]["type"] = {"const": model.event_type}
    envelope["properties"]["source"] = {"const": f"/crm/{service}"}
    envelope["properties"]["dataversion"] = {"const": model.data_version}
    envelope["$defs"] = {**envelope.get("$defs", {}), **defs}
    envelope["title"] = f"{model.event_type} v{model.data_version}"
    envelope["description"] = (model.__doc__ or "").strip() or model.event_type
    envelope["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return envelope


def render() -> dict[str, str]:
    files: dict[str, str] = {}
    channels: dict[str, Any] = {}
    for service, module in publisher_modules().items():
        for model in event_models(module):
            schema = event_schema(service, model)
            name = f"events/{model.event_type}.v{model.data_version}.json"
            files[name] = json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
            channels[f"{exchange_name(service)}/{model.event_type}"] = {
                "description": f"topic exchange `{exchange_name(service)}`, routing key "
                f"`{model.event_type}`",
                "bindings": {"amqp": {
                    "is": "routingKey",
                    "exchange": {"name": exchange_name(service), "type": "topic",
                                 "durable": True, "autoDelete": False, "vhost": "/"},
                }},
                "subscribe": {
                    "operationId": f"on_{model.event_type.replace('.', '_')}",
                    "message": {
                        "name": model.event_type,
                        "contentType": "application/json",
                        "payload": {"$ref": name},
                    },
                },
            }
    asyncapi = {
        "asyncapi": "2.6.0",
        "info": {"title": "CRM platform events", "version": "1.0.0",
                 "description": "CloudEvents 1.0 (structured JSON) on one topic exchange per "
                 "service; routing key = event type. At-least-once delivery: dedupe on `id`."},
        "defaultContentType": "application/json",
        "channels": dict(sorted(channels.items())),
    }
    files["asyncapi.json"] = json.dumps(asyncapi, indent=2, ensure_ascii=False) + "\n"
    return files


def write(target: Path = CONTRACTS_DIR) -> None:
    files = render()
    (target / "events").mkdir(parents=True, exist_ok=True)
    for stale in (target / "events").glob("*.json"):
        if f"events/{stale.name}" not in files:
            stale.unlink()
    for name, content in files.items():
        (target / name).write_text(content, encoding="utf-8")


def check(target: Path = CONTRACTS_DIR) -> list[str]:
    files = render()
    problems = []
    for name, content in files.items():
        path = target / name
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            problems.append(f"contracts/{name} is missing or stale")
    present = {f"events/{p.name}" for p in (target / "events").glob("*.json")}
    problems += [f"contracts/{n} has no event model" for n in sorted(present - set(files))]
    return problems


def main() -> None:
    action = sys.argv[1] if len(sys.argv) > 1 else "check"
    if action == "write":
        write()
        error_codes.write()
        print(f"wrote {len(render())} contract files to {CONTRACTS_DIR} and "
              f"{error_codes.CATALOGUE.relative_to(REPO_ROOT)}")
        return
    problems = check()
    if error_codes.stale():
        problems.append(f"{error_codes.CATALOGUE.relative_to(REPO_ROOT)} is stale")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        print("run `make contracts` and commit the result", file=sys.stderr)
        sys.exit(1)
    print("contracts are up to date")


if __name__ == "__main__":
    main()
