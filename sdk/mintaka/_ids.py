"""`mintaka._ids` re-exports `mintaka_core.ids` (the core the server shares):
users' imports and earlier pickles keep working, every name the same object through both paths."""

from mintaka_core.ids import *  # noqa: F403
