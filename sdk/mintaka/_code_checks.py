"""`mintaka._code_checks` re-exports `mintaka_core.code_checks` (the core the server shares):
users' imports and earlier pickles keep working, every name the same object through both paths."""

from mintaka_core.code_checks import *  # noqa: F403
