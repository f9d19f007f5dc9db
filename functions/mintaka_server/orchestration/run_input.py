"""Checking a resume's input against the JSON schema its pause declared (`wait_for_input`).
Pure: shared by the rule that decides the resume and the service that answers it 422."""

from __future__ import annotations

from typing import Any

from .json_schema import schema_problems


def run_input_problems(schema: dict[str, Any], value: dict[str, Any] | None) -> str | None:
    """What is wrong with `value` (None: nothing was given, read as `{}`), each problem naming
    its field; None if it satisfies the schema."""
    return schema_problems(schema, value or {}, "run_input")
