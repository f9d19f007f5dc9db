"""Result serializers, by name or as objects (Prefect 2's `prefect.serializers` names).

    @task(persist_result=True, result_serializer="json")
    @task(result_serializer="compressed/pickle")                  # lzma over cloudpickle
    @task(result_serializer=CompressedSerializer(serializer="json", compressionlib="zlib"))

A result records its serializer's name (e.g. `compressed/json:zlib`), so whoever reads it
needs no code. Compression libraries are a fixed set of the standard library's: a name read
back from the API never makes the reader import anything else.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from mintaka.exceptions import MintakaError

BASES = {"cloudpickle": "cloudpickle", "pickle": "cloudpickle", "json": "json"}
COMPRESSION_LIBS = ("lzma", "zlib", "bz2", "gzip")
DEFAULT_SERIALIZER = "cloudpickle"


@dataclass(frozen=True)
class Serializer:
    """A serializer by name; `name` is what results record."""

    name: str


def PickleSerializer() -> Serializer:
    return Serializer("cloudpickle")


def JSONSerializer() -> Serializer:
    return Serializer("json")


def CompressedSerializer(serializer: str | Serializer = "pickle", compressionlib: str = "lzma") -> Serializer:
    """`serializer`'s bytes compressed with `compressionlib` (lzma, zlib, bz2 or gzip)."""
    base = serializer.name if isinstance(serializer, Serializer) else serializer
    return Serializer(serializer_name(f"compressed/{base}:{compressionlib}"))


def CompressedPickleSerializer(compressionlib: str = "lzma") -> Serializer:
    return CompressedSerializer("pickle", compressionlib)


def CompressedJSONSerializer(compressionlib: str = "lzma") -> Serializer:
    return CompressedSerializer("json", compressionlib)


def serializer_name(serializer: Any) -> str:
    """The canonical name of a serializer given by name or object; a clear error otherwise."""
    if isinstance(serializer, Serializer):
        serializer = serializer.name
    if not isinstance(serializer, str):
        raise MintakaError(f"result_serializer must be a name or a mintaka.serializers object, not {serializer!r}")
    name = serializer.strip().lower()
    if name in BASES:
        return BASES[name]
    if name.startswith("compressed/"):
        base, _, lib = name.removeprefix("compressed/").partition(":")
        if base in BASES and (lib or "lzma") in COMPRESSION_LIBS:
            return f"compressed/{BASES[base]}:{lib or 'lzma'}"
    raise MintakaError(
        f"Unknown result serializer {serializer!r}: use 'cloudpickle' (or 'pickle'), 'json', or "
        f"'compressed/<pickle|json>[:<{'|'.join(COMPRESSION_LIBS)}>]'"
    )


def split(name: str) -> tuple[str, str | None]:
    """(base serializer, compression library or None) of a canonical name."""
    if name.startswith("compressed/"):
        base, _, lib = name.removeprefix("compressed/").partition(":")
        return base, lib
    return name, None


def compress(blob: bytes, lib: str) -> bytes:
    return _module(lib).compress(blob)


def decompress(blob: bytes, lib: str) -> bytes:
    return _module(lib).decompress(blob)


def _module(lib: str) -> Any:
    if lib not in COMPRESSION_LIBS:
        raise MintakaError(f"Unknown compression library {lib!r}; use one of {COMPRESSION_LIBS}")

    return importlib.import_module(lib)


__all__ = [
    "CompressedJSONSerializer",
    "CompressedPickleSerializer",
    "CompressedSerializer",
    "JSONSerializer",
    "PickleSerializer",
    "Serializer",
    "serializer_name",
]
