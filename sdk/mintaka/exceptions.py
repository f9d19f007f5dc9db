"""`mintaka.exceptions` re-exports `mintaka_core.exceptions` (the core the server shares):
users' imports and earlier pickles keep working, every name the same object through both paths."""

from mintaka_core.exceptions import *  # noqa: F403
