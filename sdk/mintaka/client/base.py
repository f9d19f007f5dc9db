"""`mintaka.client.base` re-exports `mintaka_core.client` (the core the server shares):
users' imports and earlier pickles keep working, every name the same object through both paths."""

from mintaka_core.client import *  # noqa: F403
