"""`mintaka.client.deployments` re-exports `mintaka_core.deployment_client` (the core the server shares):
users' imports and earlier pickles keep working, every name the same object through both paths."""

from mintaka_core.deployment_client import *  # noqa: F403
