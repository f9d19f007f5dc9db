"""`mintaka.deployment_schemas` re-exports `mintaka_core.deployment_schemas` (the core the server shares):
users' imports and earlier pickles keep working, every name the same object through both paths."""

from mintaka_core.deployment_schemas import *  # noqa: F403
