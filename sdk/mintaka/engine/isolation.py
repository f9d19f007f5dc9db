"""A fresh module namespace for each execution of deployed code.

A process that executes several runs (a warm Lambda container, a long-lived worker) must not
hand one run the modules another imported: after a redeploy the helper modules would be the old
code, and a deployment's pinned requirements would meet another's. `fresh_modules(roots)` puts
the run's code and dependency directories first on `sys.path` for the run, and afterwards
forgets every module the run imported from them (and restores `sys.path`), so the next run
imports its own code again. Modules imported before the run, and submodules of their packages,
are kept, wherever they live (the SDK, the environment, a project the process itself imported):
they are not the run's.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def fresh_modules(*roots: Path) -> Iterator[None]:
    """Within the block, `roots` come first on `sys.path`; afterwards the modules imported
    from them within the block are forgotten and `sys.path` is as it was."""
    resolved = [str(Path(root).resolve()) for root in roots]
    saved_path, before = list(sys.path), set(sys.modules)
    sys.path[:0] = resolved
    importlib.invalidate_caches()  # path finders cache directory listings
    try:
        yield
    finally:
        added = [entry for entry in sys.path if entry not in saved_path and not _under(entry, resolved)]
        sys.path[:] = saved_path + added
        # New top-level names only: a submodule of a package loaded before (the SDK's, imported
        # lazily by the run, even from an editable install under a root) stays one module.
        tops = {name.partition(".")[0] for name in before}
        new = [name for name in list(sys.modules) if name not in before and name.partition(".")[0] not in tops]
        forget_modules_under(resolved, new)


def forget_modules_under(roots: list[str], names: list[str]) -> list[str]:
    """Drop from `sys.modules` those of `names` whose file lies under one of `roots`."""
    prefixes = tuple(root.rstrip(os.sep) + os.sep for root in roots)
    gone = [name for name in names if _origin(sys.modules.get(name)).startswith(prefixes)]
    for name in gone:
        sys.modules.pop(name, None)
    return gone


def _origin(module: object) -> str:
    file = getattr(module, "__file__", None)
    if file:
        return str(file)
    paths = getattr(module, "__path__", None)  # a namespace package
    try:
        return str(next(iter(paths))) if paths is not None else ""
    except (StopIteration, TypeError):
        return ""


def _under(entry: str, roots: list[str]) -> bool:
    return any(entry == root or entry.startswith(root.rstrip(os.sep) + os.sep) for root in roots)
