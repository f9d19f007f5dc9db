"""The rules engine: pure functions from (run, proposed state, prefetched facts) to a decision."""

from .context import CacheInsert, Decision, RunSnapshot, SlotUsage, TransitionContext
from .policies import FLOW_RUN_POLICY, TASK_RUN_POLICY, evaluate, force

__all__ = [
    "FLOW_RUN_POLICY",
    "TASK_RUN_POLICY",
    "CacheInsert",
    "Decision",
    "RunSnapshot",
    "SlotUsage",
    "TransitionContext",
    "evaluate",
    "force",
]
