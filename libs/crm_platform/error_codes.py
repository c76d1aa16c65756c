"""The catalogue of problem ``code`` s the API returns, read from the code itself.

Every place that raises a :class:`~crm_platform.errors.DomainError` (or builds a problem
response in the gateway) with a literal code is found by reading the source; the
catalogue lists each code with its HTTP status and an example detail, and is written to
``docs/error-codes.md`` by ``make contracts`` (``contracts-check`` fails when stale). A
code that the documentation or the OpenAPI mention must be in it
(``tests/unit/test_error_codes.py``), so a renamed code cannot leave its old name in the
docs.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from crm_platform import errors
from crm_platform.settings import REPO_ROOT

SOURCES = ("libs", "gateway", "services")
CATALOGUE = REPO_ROOT / "docs" / "error-codes.md"
# helpers that build a DomainError from a code passed at this position
CODE_ARGUMENT = {"bad_reference": 2, "_bad": 2}
# the gateway's mapping of Starlette's own HTTP errors (``gateway.problems``)
HTTP_CODES = {"method_not_allowed": 405, "unsupported_media_type": 415, "http_error": 400}


@dataclass
class Code:
    statuses: set[int] = field(default_factory=set)
    example: str = ""
    places: set[str] = field(default_factory=set)


def _classes() -> dict[str, type[errors.DomainError]]:
    found: dict[str, type[errors.DomainError]] = {}
    pending: list[type[errors.DomainError]] = [errors.DomainError]
    while pending:
        cls = pending.pop()
        found[cls.__name__] = cls
        pending.extend(cls.__subclasses__())
    return found


def _text(node: ast.expr | None) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) and isinstance(v.value, str)
                       else "…" for v in node.values)
    return ""


def _name(call: ast.Call) -> str:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return ""


def collect(root: Path = REPO_ROOT) -> dict[str, Code]:
    classes = _classes()
    found: dict[str, Code] = {}

    def add(code: str, status: int | None, example: str, place: str) -> None:
        entry = found.setdefault(code, Code())
        if status is not None:
            entry.statuses.add(status)
        if example and not entry.example:
            entry.example = example
        entry.places.add(place)

    for cls in classes.values():
        add(cls.default_code, cls.status, cls.title, "crm_platform.errors")
    for code, status in HTTP_CODES.items():
        add(code, status, "", "gateway.problems")
    for top in SOURCES:
        for path in sorted((root / top).rglob("*.py")):
            # the in-memory fakes stand in for a service's SQL in unit tests: what they
            # raise is what the SQL raises, named where the SQL is
            if "migrations" in path.parts or path.name == "fakes.py":
                continue
            place = str(path.relative_to(root).parent).replace("/", ".")
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                name = _name(node)
                raised = classes.get(name)
                raised_status = raised.status if raised else None
                detail = _text(node.args[0]) if node.args else ""
                if name == "problem_response" and len(node.args) >= 2:
                    code = _text(node.args[1])
                    number = node.args[0]
                    if code and isinstance(number, ast.Constant) \
                            and isinstance(number.value, int):
                        add(code, number.value, _text(node.args[3])
                            if len(node.args) > 3 else "", place)
                    continue
                for kw in node.keywords:
                    if kw.arg == "code" and _text(kw.value):
                        add(_text(kw.value), raised_status, detail, place)
                if raised is not None and len(node.args) > 1 and _text(node.args[1]):
                    add(_text(node.args[1]), raised_status, detail, place)
                position = CODE_ARGUMENT.get(name)
                if position is not None and len(node.args) > position:
                    add(_text(node.args[position]), 422,
                        _text(node.args[1]) if len(node.args) > 1 else "", place)
    return dict(sorted(found.items()))


def render(root: Path = REPO_ROOT) -> str:
    lines = [
        "# Error codes",
        "",
        "Every problem+json response carries a stable `code`. This list is generated from",
        "the code (`make contracts`; CI fails when it is stale): each code, the HTTP status",
        "it comes with, an example of its `detail`, and where it is raised.",
        "",
        "| code | status | example detail | raised in |",
        "|---|---|---|---|",
    ]
    for code, entry in collect(root).items():
        statuses = ", ".join(str(s) for s in sorted(entry.statuses)) or "—"
        example = entry.example.replace("|", "\\|").replace("\n", " ")
        places = ", ".join(f"`{p}`" for p in sorted(entry.places))
        lines.append(f"| `{code}` | {statuses} | {example} | {places} |")
    return "\n".join(lines) + "\n"


def write(path: Path = CATALOGUE) -> None:
    path.write_text(render(), encoding="utf-8")


def stale(path: Path = CATALOGUE) -> bool:
    return not path.exists() or path.read_text(encoding="utf-8") != render()
