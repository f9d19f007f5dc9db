"""The core policies: ordered lists of rules, read top to bottom, and the evaluator."""

from __future__ import annotations

from mintaka_core.schemas import SetStateStatus
from mintaka_core.states import StateType

from . import rules as r
from .context import Decision, TransitionContext

TASK_RUN_POLICY: tuple[type[r.Rule], ...] = (
    r.IgnoreDuplicateProposal,
    r.RefuseStaleRevivals,
    r.ReenterCutOffSubflows,
    r.PreventTransitionsFromTerminalStates,
    r.PreventDuplicateTransitions,
    r.PreventRunningTasksInFinishedFlows,
    r.WaitForScheduledTime,
    r.RetrieveCachedResult,
    r.SecureTaskConcurrencySlots,
    r.ReleaseConcurrencySlots,
    r.RetryFailedRuns,
    r.RenameRetryingRuns,
    r.InsertCacheEntry,
    r.LeaseRunningRuns,  # only a task run called outside any flow holds a lease of its own
    r.EndLeases,
    r.UpdateRunBookkeeping,
)

FLOW_RUN_POLICY: tuple[type[r.Rule], ...] = (
    r.IgnoreDuplicateProposal,
    r.RefuseStaleRevivals,
    r.ReenterCutOffSubflows,
    r.PreventTransitionsFromTerminalStates,
    r.PreventDuplicateTransitions,
    r.OnlyScheduledRunsBecomeLate,
    r.CancelRunsThatHaveNotStarted,
    r.CancellingRunsEndCancelled,
    r.ResumeOnlyWithinThePause,
    r.CheckRunInput,
    r.ResumeSuspendedRunsThroughTheirQueue,
    r.WaitForScheduledTime,
    r.SecureWorkQueueSlots,
    r.ReleaseConcurrencySlots,
    r.RetryFailedRuns,
    r.RequeueLostRuns,
    r.RenameRetryingRuns,
    r.LeaseRunningRuns,
    r.EndLeases,
    r.UpdateRunBookkeeping,
)


# A run the reaper ended while its executor was alive, revived by that executor (see
# `rules.revives_reaped_run`): it runs on as the same attempt, leased again.
REVIVAL_POLICY: tuple[type[r.Rule], ...] = (
    r.IgnoreDuplicateProposal,
    r.ReviveReapedRuns,
    r.LeaseRunningRuns,
)


def policy_for(kind: str) -> tuple[type[r.Rule], ...]:
    return TASK_RUN_POLICY if kind == "task_run" else FLOW_RUN_POLICY


def evaluate(ctx: TransitionContext, policy: tuple[type[r.Rule], ...] | None = None) -> Decision:
    """Run the proposal through the policy. The first rule that refuses ends evaluation;
    rewrites carry forward, and each rule is matched against the proposal as it stands."""
    decision = Decision(status=SetStateStatus.ACCEPT, state=ctx.proposed)
    from_type = ctx.run.state_type
    if policy is None:
        policy = REVIVAL_POLICY if r.revives_reaped_run(ctx) else policy_for(ctx.run.kind)
    to_type = decision.state.type
    position = 0
    while True:
        for index, rule in _governing(policy, from_type, to_type, position):
            rule.apply(ctx, decision)
            if not decision.is_accept or not decision.commit:
                return decision
            if decision.state.type is not to_type:  # rewritten: the rules after it match the new type
                to_type, position = decision.state.type, index + 1
                break
        else:
            return decision


_GOVERNING: dict[tuple, tuple[tuple[int, type[r.Rule]], ...]] = {}


def _governing(
    policy: tuple[type[r.Rule], ...], from_type: StateType | None, to_type: StateType, start: int
) -> tuple[tuple[int, type[r.Rule]], ...]:
    """The rules of `policy` from `start` on that govern this transition, with their places:
    worked out once per transition (a task run's proposal is matched against each rule otherwise)."""
    key = (policy, from_type, to_type, start)
    found = _GOVERNING.get(key)
    if found is None:
        found = _GOVERNING[key] = tuple(
            (i, rule) for i, rule in enumerate(policy) if i >= start and rule.governs(from_type, to_type)
        )
    return found


def force(ctx: TransitionContext) -> Decision:
    """Accept the proposal without rules (operator override), keeping slot bookkeeping sound."""
    decision = Decision(status=SetStateStatus.ACCEPT, state=ctx.proposed)
    for rule in (r.ReleaseConcurrencySlots, r.LeaseRunningRuns, r.EndLeases, r.UpdateRunBookkeeping):
        if rule.governs(ctx.run.state_type, decision.state.type):
            rule.apply(ctx, decision)
    return decision
