"""`mintaka.schemas` re-exports `mintaka_core.schemas` (the core the server shares):
users' imports and earlier pickles keep working, every name the same object through both paths."""

from mintaka_core.schemas import *  # noqa: F403
