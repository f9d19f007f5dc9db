"""Argument annotations: wrap a task argument to change how the engine treats it.

- `unmapped(x)`: `.map()` passes `x` whole to every mapped run instead of iterating it.
- `allow_failure(future)`: the downstream run starts even if that upstream run failed; it
  receives the upstream's exception as the value.
- `quote(x)`: the engine does not look inside `x` for futures or states (large inputs stay cheap).
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

T = TypeVar("T")


class BaseAnnotation(Generic[T]):
    """A wrapper the engine recognises and unwraps before calling the task."""

    __slots__ = ("value",)

    def __init__(self, value: T):
        self.value = value

    def unwrap(self) -> T:
        return self.value

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.value == other.value  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), id(self.value)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.value!r})"


class unmapped(BaseAnnotation[T]):
    """Pass this argument whole to every run of a `.map()`."""

    def __getitem__(self, _: Any) -> T:
        return self.value


class allow_failure(BaseAnnotation[T]):
    """Let the downstream run start even when this upstream failed (it gets the exception)."""


class quote(BaseAnnotation[T]):
    """Pass this argument as is: it is not searched for futures or states."""


__all__ = ["BaseAnnotation", "allow_failure", "quote", "unmapped"]
