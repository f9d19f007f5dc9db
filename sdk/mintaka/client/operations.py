"""`mintaka.client.operations` re-exports `mintaka_core.operations` (the core the server shares):
users' imports and earlier pickles keep working, every name the same object through both paths."""

from mintaka_core.operations import *  # noqa: F403
from mintaka_core.operations import __all__  # noqa: F401
