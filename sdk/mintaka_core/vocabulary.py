"""Shared words: the label keys and defaults the SDK and the server both write or read (one
spelling, imported by both). State names live with the states (`mintaka_core.states`)."""

from __future__ import annotations

DEFAULT_QUEUE = "default"  # the work queue that always exists

# Labels on runs.
CLAIM_LABEL = "mintaka.claim"  # on a PENDING proposal: the executor's claim token
GIT_COMMIT_LABEL = "mintaka.git.commit"  # the commit a deployment's code was fetched at
INFRASTRUCTURE_LABEL = "mintaka.infrastructure"  # where a deployment's runs execute ("fargate")
WORKER_LABEL = "mintaka.worker"
ECS_TASK_LABEL = "mintaka.ecs.task_arn"
ECS_CLUSTER_LABEL = "mintaka.ecs.cluster"

__all__ = [
    "CLAIM_LABEL",
    "DEFAULT_QUEUE",
    "ECS_CLUSTER_LABEL",
    "ECS_TASK_LABEL",
    "GIT_COMMIT_LABEL",
    "INFRASTRUCTURE_LABEL",
    "WORKER_LABEL",
]
