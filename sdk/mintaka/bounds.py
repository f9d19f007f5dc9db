"""`mintaka.bounds` re-exports `mintaka_core.bounds` (the core the server shares):
users' imports and earlier pickles keep working, every name the same object through both paths."""

from mintaka_core.bounds import *  # noqa: F403
from mintaka_core.bounds import __all__  # noqa: F401
