"""`mintaka.client.schemas.filters` re-exports `mintaka_core.filters` (the core the server shares):
users' imports and earlier pickles keep working, every name the same object through both paths."""

from mintaka_core.filters import *  # noqa: F403
from mintaka_core.filters import __all__  # noqa: F401
