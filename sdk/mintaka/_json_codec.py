"""The JSON result serializer: readable JSON that reads back as the same Python types."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime
import decimal
import functools
import importlib
import json
import logging
import pathlib
import re
import sys
import uuid
from collections.abc import Iterator
from typing import Any

from mintaka.exceptions import MintakaError

# -- the JSON serializer
#
# What it encodes: JSON's own types, plus everything pydantic's JSON encoder encodes (datetime,
# date, time, timedelta, Decimal, UUID, Enum, Path, IP addresses, pydantic models, ...),
# dataclasses, tuples (named ones too), sets, frozensets, bytes, and dicts with keys of any of
# these types, nested freely. JSON's own values are written as they are, so the file stays
# readable: `{"a": [1, 2.5, "x", null]}`. Any other value is written as an object tagged with its
# type, `{"__mintaka_type__": "module:QualName", ...}`:
#
#     tuple, set, frozenset (and subclasses: named tuples...)  {"...": "builtins:tuple", "items": [...]}
#     dict with non-string keys, dict subclasses               {"...": "builtins:dict", "pairs": [[k, v], ...]}
#     bytes, bytearray                                         {"...": "builtins:bytes", "base64": "..."}
#     dataclass instances                                      {"...": "app.models:Row", "fields": {...}}
#     the rest, encoded by pydantic (`to_jsonable_python`)     {"...": "datetime:datetime", "data": "2024-..."}
#
# On read, the same types come back. (Prefect 2.20's JSONSerializer also tags what JSON lacks
# with its class and rebuilds it with pydantic, but tuples come back as lists, int keys as
# strings, non-UTF-8 bytes fail to encode, and a user's dict with a "__class__" key is misread.)
# Datetimes are datetimes (with their timezone), Decimals are exact,
# pydantic models are rebuilt by pydantic's JSON validation (so they round-trip as
# `model_dump_json` / `model_validate_json` do), dataclasses get their fields back without
# calling `__init__` (as pickle does). A subclass pydantic cannot rebuild (e.g. pendulum's
# DateTime) is tagged with the nearest base class it can (datetime). When a tagged type cannot
# be imported where the result is read (a class defined inside a function, a module that is
# missing), the value comes back as its JSON form (a dict, list or string) and a warning is logged.
#
# A value none of these cover fails with a MintakaError naming its type and where it sits in the
# result, before anything is written.

_TYPE_KEY = "__mintaka_type__"
_log = logging.getLogger("mintaka.results")


class _Unencodable(Exception):
    def __init__(self, type_name: str, path: str, detail: str = ""):
        self.type_name = type_name
        self.path = path
        self.detail = detail


def _display_name(cls: type) -> str:
    module = getattr(cls, "__module__", None)
    qualname = getattr(cls, "__qualname__", getattr(cls, "__name__", repr(cls)))
    return qualname if module in (None, "builtins") else f"{module}.{qualname}"


def _dumps_json(value: Any) -> bytes:
    try:
        tree = _encode(value, "result", set())
    except _Unencodable as exc:
        where = "" if exc.path == "result" else f" at {exc.path}"
        if exc.detail:
            message = f"result_serializer='json' cannot encode the {exc.type_name}{where}: {exc.detail}"
            raise MintakaError(message) from None
        raise MintakaError(
            f"result_serializer='json' cannot encode a value of type {exc.type_name}{where}. "
            "It encodes JSON types and what pydantic encodes (datetime, UUID, Decimal, Enum, Path, "
            "pydantic models, dataclasses, tuples, sets, bytes...); use result_serializer='cloudpickle' "
            "for other values"
        ) from None
    except RecursionError:
        raise MintakaError("result_serializer='json' cannot encode the result: it is nested too deeply") from None
    return json.dumps(tree, ensure_ascii=False, separators=(",", ":")).encode()


def _loads_json(blob: bytes) -> Any:
    return _decode(json.loads(blob))


_PLAIN = (str, int, float, bool)
_UNKNOWN_TYPE = re.compile(r"unknown type: <class '([^']+)'>")


def _encode(value: Any, path: str, seen: set[int]) -> Any:
    cls = type(value)
    if value is None or cls in _PLAIN:
        return value
    # JSON's own values inside containers skip the call (and the path a failure would need)
    if cls is dict and _TYPE_KEY not in value and all(type(k) is str for k in value):
        with _visiting(value, path, seen):
            return {
                k: v if v is None or type(v) in _PLAIN else _encode(v, f"{path}[{k!r}]", seen) for k, v in value.items()
            }
    if cls is list:
        with _visiting(value, path, seen):
            return [
                v if v is None or type(v) in _PLAIN else _encode(v, f"{path}[{i}]", seen) for i, v in enumerate(value)
            ]
    if isinstance(value, dict):
        with _visiting(value, path, seen):
            pairs = [[_encode(k, f"{path}.keys()", seen), _encode(v, f"{path}[{k!r}]", seen)] for k, v in value.items()]
        return {_TYPE_KEY: _type_name(cls, dict), "pairs": pairs}
    if isinstance(value, tuple | list | set | frozenset):
        base = next(b for b in (tuple, list, set, frozenset) if isinstance(value, b))
        with _visiting(value, path, seen):
            items = [_encode(v, f"{path}[{i}]", seen) for i, v in enumerate(value)]
        return {_TYPE_KEY: _type_name(cls, base), "items": items}
    if cls in (bytes, bytearray):
        return {_TYPE_KEY: _type_name(cls, cls), "base64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, pathlib.PurePath):  # pydantic has no pure paths; a Path reads back in the reader's flavour
        concrete = isinstance(value, pathlib.Path)
        return {_TYPE_KEY: "pathlib:Path" if concrete else _type_name(cls, pathlib.PurePath), "data": str(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        with _visiting(value, path, seen):
            fields = {
                f.name: _encode(getattr(value, f.name), f"{path}.{f.name}", seen)
                for f in dataclasses.fields(value)
                if hasattr(value, f.name)
            }
        return {_TYPE_KEY: _qualified_name(cls) or _raw_name(cls), "fields": fields}
    from pydantic_core import PydanticSerializationError, to_jsonable_python

    try:
        data = to_jsonable_python(value)
    except (PydanticSerializationError, ValueError, TypeError) as exc:
        unknown = _UNKNOWN_TYPE.search(str(exc))
        if unknown is None:  # pydantic knows the type but this value failed (e.g. a serializer raised)
            raise _Unencodable(_display_name(cls), path, str(exc)) from None
        inner = unknown.group(1).removeprefix("builtins.")
        if inner != _display_name(cls):  # e.g. a field of a pydantic model
            path = f"{path} (inside a {_display_name(cls)})"
        raise _Unencodable(inner, path) from None
    return {_TYPE_KEY: _pydantic_type_name(cls), "data": data}


@contextlib.contextmanager
def _visiting(container: Any, path: str, seen: set[int]) -> Iterator[None]:
    """Refuse a container that contains itself (JSON has no references)."""
    key = id(container)
    if key in seen:
        raise _Unencodable(_display_name(type(container)), path, "it contains itself")
    seen.add(key)
    try:
        yield
    finally:
        seen.discard(key)


def _qualified_name(cls: type) -> str | None:
    """`module:QualName` when that name finds `cls` again (it is importable), else None."""
    module, qualname = getattr(cls, "__module__", None), getattr(cls, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        return None
    found: Any = sys.modules.get(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return f"{module}:{qualname}" if found is cls else None


def _type_name(cls: type, base: type) -> str:
    """The tag for a container: its own class when importable, else the builtin it extends."""
    return _qualified_name(cls) or _qualified_name(base) or "builtins:object"


@functools.lru_cache(maxsize=1024)
def _pydantic_type_name(cls: type) -> str:
    """The tag for a value pydantic encodes: the first class of its MRO that is importable by
    name and that pydantic can rebuild (a pendulum DateTime is tagged as a datetime)."""
    for candidate in cls.__mro__[:-1]:
        name = _qualified_name(candidate)
        if name is not None and _adapter(name) is not None:
            return name
    return _qualified_name(cls) or _raw_name(cls)


def _raw_name(cls: type) -> str:
    """A class's name even when it cannot be imported by it (a class defined in a function)."""
    return f"{getattr(cls, '__module__', '?')}:{getattr(cls, '__qualname__', '?')}"


@functools.lru_cache(maxsize=1024)
def _import(name: str) -> Any:
    module_name, _, qualname = name.partition(":")
    if not module_name or not qualname or "<" in qualname:
        return None
    try:
        found: Any = sys.modules.get(module_name) or importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except Exception:  # missing module or attribute: the caller falls back
        return None
    return found if isinstance(found, type) else None


@functools.lru_cache(maxsize=1024)
def _adapter(name: str) -> Any:
    cls = _import(name)
    if cls is None:
        return None
    from pydantic import TypeAdapter

    try:
        return TypeAdapter(cls)
    except Exception:  # pydantic has no schema for it: the caller falls back
        return None


# Parsed without pydantic: exact (a datetime's timezone is a `datetime.timezone`), and faster.
_EXACT: dict[str, Any] = {
    "datetime:datetime": datetime.datetime.fromisoformat,
    "datetime:date": datetime.date.fromisoformat,
    "datetime:time": datetime.time.fromisoformat,
    "decimal:Decimal": decimal.Decimal,
    "uuid:UUID": uuid.UUID,
}


def _decode(node: Any) -> Any:
    if type(node) is list:
        return [_decode(v) if type(v) in _NESTED else v for v in node]
    if type(node) is not dict:
        return node
    name = node.get(_TYPE_KEY)
    if name is None:
        return {k: _decode(v) if type(v) in _NESTED else v for k, v in node.items()}
    return _restore(name, node)


_NESTED = (list, dict)


def _fallback(name: str, node: dict, shown_as: str) -> None:
    _log.warning("A JSON result holds a %s that cannot be rebuilt here; it is returned as %s", name, shown_as)


def _restore(name: str, node: dict) -> Any:
    cls = _import(name)
    if "pairs" in node:
        pairs = [(_decode(k), _decode(v)) for k, v in node["pairs"]]
        if cls is dict:
            return dict(pairs)
        if cls is not None and issubclass(cls, dict):
            with contextlib.suppress(Exception):
                return cls(pairs)
        _fallback(name, node, "a dict")
        return dict(pairs)
    if "items" in node:
        items = [_decode(v) for v in node["items"]]
        if cls in (tuple, list, set, frozenset):
            return cls(items)
        if cls is not None and issubclass(cls, tuple | list | set | frozenset):
            with contextlib.suppress(Exception):
                return cls(*items) if hasattr(cls, "_fields") else cls(items)
        _fallback(name, node, "a tuple")
        return tuple(items)
    if "base64" in node:
        raw = base64.b64decode(node["base64"])
        return bytearray(raw) if cls is bytearray else raw
    if "fields" in node:
        fields = {k: _decode(v) for k, v in node["fields"].items()}
        if cls is not None and dataclasses.is_dataclass(cls):
            obj = cls.__new__(cls)
            for key, value in fields.items():
                object.__setattr__(obj, key, value)  # as pickle does: no __init__, frozen ones too
            return obj
        _fallback(name, node, "a dict of its fields")
        return fields
    data = node.get("data")
    exact = _EXACT.get(name)
    if exact is None and cls is not None and issubclass(cls, pathlib.PurePath):
        exact = cls
    if exact is not None and isinstance(data, str):
        with contextlib.suppress(ValueError):
            return exact(data)
    adapter = _adapter(name)
    if adapter is not None:
        try:
            return adapter.validate_json(json.dumps(data))
        except Exception:  # e.g. a model changed since: its JSON form is returned
            pass
    _fallback(name, node, "its JSON form")
    return data
