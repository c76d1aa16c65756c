"""Message templates (NTF-04): jinja2 in a sandbox, one body per locale.

A template is user input: it is compiled in jinja2's ``ImmutableSandboxedEnvironment``,
which refuses attribute access to Python internals (``__class__``, ``mro``…) and any
call that changes a value, so a template can read the variables it is given and nothing
else. HTML parts are autoescaped.

A template may use only the variables :data:`VARIABLES` names; ``data.<field>`` is
checked against the fields of the event the template is written for when the platform
knows that event's model. Anything else is refused when the template is saved
(:func:`check`), not discovered when a message is rendered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateSyntaxError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"
PARTS = ("subject", "text", "html")

# what every message's context holds (see ``use_cases.planning.message_context``)
VARIABLES: dict[str, str] = {
    "event": "the event: id, type, source, subject, time",
    "data": "the event's payload (its fields as the event's contract lists them)",
    "recipient": "who the message goes to: name, kind (staff / contact / customer), locale",
    "owner": "the owner named by the event (data.owner_id): display_name, email, phone",
    "customer": "the customer the event is about: name, code",
    "holiday": "for holiday greetings: name, date",
    "occurrence": "for reminders: the date or time the reminder is about",
    "unsubscribe_url": "one-click unsubscribe link (marketing and care messages)",
}

_text_env = ImmutableSandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
_html_env = ImmutableSandboxedEnvironment(autoescape=True, keep_trailing_newline=True)


@dataclass(frozen=True)
class Problem:
    locale: str
    part: str
    message: str

    def as_error(self) -> dict[str, str]:
        return {"field": f"bodies.{self.locale}.{self.part}", "message": self.message}


@dataclass(frozen=True)
class Rendered:
    locale: str
    subject: str
    text: str
    html: str | None


def _data_fields_used(ast: nodes.Template) -> set[str]:
    """Names read as ``data.<name>`` or ``data['<name>']``."""
    used: set[str] = set()
    for node in ast.find_all(nodes.Getattr):
        if isinstance(node.node, nodes.Name) and node.node.name == "data":
            used.add(node.attr)
    for item in ast.find_all(nodes.Getitem):
        if isinstance(item.node, nodes.Name) and item.node.name == "data" \
                and isinstance(item.arg, nodes.Const) and isinstance(item.arg.value, str):
            used.add(item.arg.value)
    return used


def check_source(source: str, data_fields: Iterable[str] | None,
                 extra_variables: Iterable[str] = ()) -> str | None:
    """Why ``source`` cannot be saved, or None. ``data_fields``: the fields the event's
    payload has (None: not known, ``data.*`` is not checked)."""
    try:
        ast = _text_env.parse(source)
    except TemplateSyntaxError as exc:
        return f"line {exc.lineno}: {exc.message}"
    allowed = set(VARIABLES) | set(extra_variables)
    unknown = sorted(meta.find_undeclared_variables(ast) - allowed)
    if unknown:
        return (f"unknown variable{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(unknown)}; known: {', '.join(sorted(allowed))}")
    if data_fields is not None:
        missing = sorted(_data_fields_used(ast) - set(data_fields))
        if missing:
            return (f"the event has no field{'s' if len(missing) > 1 else ''} "
                    f"{', '.join('data.' + m for m in missing)}")
    return None


def check(bodies: Mapping[str, Mapping[str, str | None]],
          data_fields: Iterable[str] | None) -> list[Problem]:
    """Every problem of a template's bodies: a locale we do not write, a body without
    text, a part that does not compile or names an unknown variable."""
    fields = None if data_fields is None else list(data_fields)
    problems: list[Problem] = []
    if not bodies:
        problems.append(Problem(DEFAULT_LOCALE, "text", "a template needs a body"))
    for locale, body in bodies.items():
        if locale not in LOCALES:
            problems.append(Problem(locale, "text",
                                    f"locale must be one of {', '.join(LOCALES)}"))
            continue
        if not body.get("text"):
            problems.append(Problem(locale, "text", "every locale needs a text body"))
        for part in PARTS:
            source = body.get(part)
            if source:
                why = check_source(source, fields)
                if why:
                    problems.append(Problem(locale, part, why))
    return problems


def pick_locale(available: Iterable[str], wanted: str | None) -> str:
    """The recipient's locale if the template has it, else the default, else any."""
    have = list(available)
    for candidate in (wanted, DEFAULT_LOCALE, *LOCALES):
        if candidate in have:
            return candidate
    return have[0]


def _render(env: ImmutableSandboxedEnvironment, source: str | None,
            context: Mapping[str, Any]) -> str | None:
    if not source:
        return None
    return env.from_string(source).render(**context)


def render(bodies: Mapping[str, Mapping[str, str | None]], locale: str | None,
           context: Mapping[str, Any]) -> Rendered:
    chosen = pick_locale(bodies, locale)
    body = bodies[chosen]
    subject = (_render(_text_env, body.get("subject"), context) or "").strip()
    return Rendered(chosen, " ".join(subject.split()),
                    _render(_text_env, body.get("text"), context) or "",
                    _render(_html_env, body.get("html"), context))


def evaluate_condition(expression: str, context: Mapping[str, Any]) -> bool:
    """A rule's condition: a jinja2 expression over the same variables (``data.escalated``,
    ``data.reason != 'pool'``), in the same sandbox."""
    return bool(_text_env.compile_expression(expression)(**context))


def check_condition(expression: str, data_fields: Iterable[str] | None) -> str | None:
    """Why a rule's condition cannot be saved, or None."""
    try:
        _text_env.compile_expression(expression)
    except TemplateSyntaxError as exc:
        return exc.message or "not an expression"
    return check_source("{{ " + expression + " }}", data_fields)
