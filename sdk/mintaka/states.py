"""`mintaka.states` re-exports `mintaka_core.states` (the core the server shares):
users' imports and earlier pickles keep working, every name the same object through both paths."""

from mintaka_core.states import *  # noqa: F403
from mintaka_core.states import NOT_READY, RESUMING, SUSPENDED, __all__, register_result_layer, utcnow  # noqa: F401
