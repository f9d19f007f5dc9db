"""Checking user data (a deployment run's parameters, a resume's input) against a JSON schema
that users also wrote: both are request bodies, so the check itself must hold against hostile
input. It runs on jsonschema-rs, never on Python's `re` (which python-jsonschema uses for
`pattern`): a pattern such as `^(a+)+$` takes Python's backtracking engine exponential time (24
characters: ~1 s, 30: about a minute of a server's CPU), while jsonschema-rs bounds backtracking.
It never fetches a remote `$ref` (no request to wherever a schema points: its retriever refuses). Pure: the
rules engine decides resumes with it."""

from __future__ import annotations

from typing import Any

import jsonschema_rs

MAX_PROBLEMS = 5  # named in one message; the rest are counted
MAX_PROBLEM_CHARS = 300  # an error echoes the offending value: keep each one readable


def _refuse_remote(uri: str) -> Any:
    raise ValueError(f"this server does not fetch schemas ({uri}); put the definition under $defs")


def schema_problems(schema: dict[str, Any], instance: Any, root: str) -> str | None:
    """What is wrong with `instance`, each problem naming its field (`root` for the whole
    value), at most `MAX_PROBLEMS` of them; None if it satisfies the schema. A schema that cannot
    be used (a `$ref` to another document) is a problem too, and says why."""
    try:
        validator = jsonschema_rs.validator_for(schema, retriever=_refuse_remote)
        errors = sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.instance_path])
    except jsonschema_rs.ValidationError as exc:  # raised while resolving the schema's references
        return f"the schema cannot be used: {_short(str(exc).splitlines()[0])}"
    if not errors:
        return None
    problems = [f"{'.'.join(str(p) for p in e.instance_path) or root}: {_short(e.message)}" for e in errors]
    if len(problems) > MAX_PROBLEMS:
        problems = [*problems[:MAX_PROBLEMS], f"and {len(problems) - MAX_PROBLEMS} more"]
    return "; ".join(problems)


_REFERENCES = ("$ref", "$dynamicRef")
_DATA = frozenset({"const", "enum", "default", "examples"})  # values, not schemas: never references


def remote_reference(schema: Any) -> str | None:
    """The first reference in `schema` to another document (anything but `#...`), if any: such a
    schema can check nothing here, since the server never fetches one."""
    pending = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
        elif isinstance(node, dict):
            for key, item in node.items():
                if key in _REFERENCES and isinstance(item, str) and not item.startswith("#"):
                    return item
                if key not in _DATA:
                    pending.append(item)
    return None


def remote_reference_problem(schema: Any) -> str | None:
    """What to tell a client whose schema refers to another document; None if it does not."""
    remote = remote_reference(schema)
    if remote is None:
        return None
    return f"this server does not fetch schemas ({_short(remote)}); put the definition under $defs"


def _short(text: str) -> str:
    return text if len(text) <= MAX_PROBLEM_CHARS else text[: MAX_PROBLEM_CHARS - 1] + "…"
