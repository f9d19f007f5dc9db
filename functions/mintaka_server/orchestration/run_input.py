"""Checking a resume's input against the JSON schema its pause declared (`wait_for_input`).
Pure: shared by the rule that decides the resume and the service that answers it 422."""

from __future__ import annotations

from typing import Any

MAX_PROBLEMS = 5  # named in one message; the rest are counted


def run_input_problems(schema: dict[str, Any], value: dict[str, Any] | None) -> str | None:
    """What is wrong with `value` (None: nothing was given, read as `{}`), each problem naming
    its field; None if it satisfies the schema."""
    from jsonschema import Draft202012Validator

    errors = sorted(Draft202012Validator(schema).iter_errors(value or {}), key=lambda e: list(e.path))
    if not errors:
        return None
    problems = [f"{'.'.join(str(p) for p in e.path) or 'run_input'}: {e.message}" for e in errors[:MAX_PROBLEMS]]
    if len(errors) > MAX_PROBLEMS:
        problems.append(f"and {len(errors) - MAX_PROBLEMS} more")
    return "; ".join(problems)
