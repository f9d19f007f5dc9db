"""Typed input for a paused flow run (Prefect 2.20's `prefect.input.run_input`).

`pause_flow_run(wait_for_input=Model)` and `suspend_flow_run(wait_for_input=Model)` store the
model's JSON schema with the pause (the PAUSED state's `run_input_schema`, for a form), the API
checks a resume's `run_input` against it, and the flow gets the model back:

    class Approval(RunInput):
        approved: bool
        note: str = ""

    approval = pause_flow_run(wait_for_input=Approval)   # `mintaka flow-run resume ID --input '{"approved": true}'`

A `RunInput` subclass comes back as itself; a plain pydantic model as a subclass of it (and of
`RunInput`); any other type (`int`, `list[str]`) as the value of the input's `value` field.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, Generic, Literal, TypeVar, cast

import pydantic

R = TypeVar("R", bound="RunInput")
T = TypeVar("T")

Keyset = dict[Literal["description", "response", "schema"], str]


def keyset_from_base_key(base_key: str) -> Keyset:
    """Prefect's names for a pause's description, schema and response."""
    return {
        "description": f"{base_key}-description",
        "response": f"{base_key}-response",
        "schema": f"{base_key}-schema",
    }


def keyset_from_paused_state(state: Any) -> Keyset:
    """The keyset of a PAUSED state: its name and pause key (`paused-pause-0-...`)."""
    if not state.is_paused():
        raise RuntimeError(f"{state.type.value!r} is unsupported.")
    return keyset_from_base_key(f"{state.name.lower()}-{state.state_details.pause_key}")


class RunInputMetadata(pydantic.BaseModel):
    key: str
    sender: str | None
    receiver: uuid.UUID


class RunInput(pydantic.BaseModel):
    """The input a paused flow run waits for: a pydantic model whose fields are the form's.
    Unknown fields are refused."""

    model_config = pydantic.ConfigDict(extra="forbid")

    _run_input_description: ClassVar[str | None] = None
    _metadata: RunInputMetadata | None = pydantic.PrivateAttr(default=None)

    @property
    def metadata(self) -> RunInputMetadata | None:
        """Which run received it, under which key (set on an input a resume gave)."""
        return self._metadata

    @classmethod
    def keyset_from_type(cls) -> Keyset:
        return keyset_from_base_key(cls.__name__.lower())

    @classmethod
    def run_input_schema(cls) -> dict[str, Any]:
        """The JSON schema stored with the pause; `with_initial_data(description=...)` is its description."""
        schema = cls.model_json_schema()
        if cls._run_input_description is not None:
            schema["description"] = cls._run_input_description
        return schema

    @classmethod
    def from_resume(cls, value: dict[str, Any] | None, key: str, flow_run_id: uuid.UUID) -> Any:
        """The instance a resume's input makes (none given: the defaults)."""
        instance = cls(**(value or {}))
        instance._metadata = RunInputMetadata(key=key, sender=None, receiver=flow_run_id)
        return instance

    @classmethod
    def with_initial_data(cls: type[R], description: str | None = None, **kwargs: Any) -> type[R]:
        """A subclass whose fields default to `kwargs` (the form comes filled in), and whose
        schema carries `description` (shown above the form)."""
        fields: dict[str, Any] = {key: (type(value), value) for key, value in kwargs.items()}
        model = pydantic.create_model(cls.__name__, __base__=cls, **fields)
        if description is not None:
            model._run_input_description = description
        return model

    @classmethod
    def subclass_from_base_model_type(cls, model_cls: type[pydantic.BaseModel]) -> type[RunInput]:
        """A `RunInput` subclass of a plain pydantic model: the pause returns an instance of both."""
        return cast(type[RunInput], type(f"{model_cls.__name__}RunInput", (RunInput, model_cls), {}))


class AutomaticRunInput(RunInput, Generic[T]):
    """The input for a type that is not a model (`int`, `list[str]`): its one field is `value`,
    and the pause returns that value."""

    value: T

    @classmethod
    def from_resume(cls, value: dict[str, Any] | None, key: str, flow_run_id: uuid.UUID) -> Any:
        return super().from_resume(value, key, flow_run_id).value

    @classmethod
    def subclass_from_type(cls, _type: type[T]) -> type[AutomaticRunInput[T]]:
        name = getattr(_type, "__name__", None) or getattr(_type, "_name", None) or ""
        return pydantic.create_model(f"{name.lower()}AutomaticRunInput", __base__=AutomaticRunInput, value=(_type, ...))


def run_input_subclass_from_type(_type: Any) -> type[RunInput]:
    """The `RunInput` class a pause waits with: `_type` itself, a subclass of a plain pydantic
    model, or an `AutomaticRunInput` around any other type."""
    try:
        if issubclass(_type, RunInput):
            return _type
        if issubclass(_type, pydantic.BaseModel):
            return RunInput.subclass_from_base_model_type(_type)
    except TypeError:  # not a class: list[int], a Union...
        pass
    return AutomaticRunInput.subclass_from_type(_type)


__all__ = [
    "AutomaticRunInput",
    "Keyset",
    "RunInput",
    "RunInputMetadata",
    "keyset_from_base_key",
    "keyset_from_paused_state",
    "run_input_subclass_from_type",
]
