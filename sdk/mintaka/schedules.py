"""`mintaka.schedules` re-exports `mintaka_core.schedules` (the core the server shares):
users' imports and earlier pickles keep working, every name the same object through both paths."""

from mintaka_core.schedules import *  # noqa: F403
from mintaka_core.schedules import __all__  # noqa: F401
