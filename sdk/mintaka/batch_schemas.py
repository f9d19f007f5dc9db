"""`mintaka.batch_schemas` re-exports `mintaka_core.batch_schemas` (the core the server shares):
users' imports and earlier pickles keep working, every name the same object through both paths."""

from mintaka_core.batch_schemas import *  # noqa: F403
from mintaka_core.batch_schemas import __all__  # noqa: F401
