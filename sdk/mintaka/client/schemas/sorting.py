"""`mintaka.client.schemas.sorting` re-exports `mintaka_core.sorting` (the core the server shares):
users' imports and earlier pickles keep working, every name the same object through both paths."""

from mintaka_core.sorting import *  # noqa: F403
from mintaka_core.sorting import __all__  # noqa: F401
