"""What a Scheduler invocation of the trigger does: one schedule's tick becomes one run, keyed by
(deployment, scheduled time) so a repeated delivery makes no second run; an rrule tick creates
the runs of every rrule schedule due in the tick's minute.

A tick for a deployment deleted, paused or changed since Scheduler fired is skipped, not an
error: Scheduler would only retry it.

The minute tick also does the embedded scheduler's housekeeping in the cloud: SCHEDULED runs not
started in time are marked Late, and RUNNING runs whose executor stopped heartbeating CRASHED.
It takes the same leader lease as the embedded schedulers (`scheduling.leader`), so of two
invocations overlapping (Scheduler delivers at least once) and of any `mintaka server start` on the
same table only one does a tick's work at a time; it hands the lease back when done.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from mintaka_core.exceptions import ObjectNotFound
from mintaka_core.schemas import FlowRun
from mintaka_server.scheduling.leader import LeaderLease

from .deployments import DeploymentService

# The tick runs every minute (Scheduler's `rate(1 minute)`). With the service's clock at the
# tick's scheduled time T it creates every schedule's runs due in (T - 1 s, T + 10 min]: rrule
# runs (which Scheduler cannot express) and, ahead of their own Scheduler ticks, the upcoming
# cron and interval runs, so they are visible as SCHEDULED before they start. Creation is
# idempotent (deployment + scheduled time) and only a newly created run is sent to its queue
# (with an SQS delay until it is due), so overlapping ticks make no duplicates; the schedule
# cursors make each fire time one creation, not one per tick that sees it (about ten before).
UPCOMING_HORIZON = dt.timedelta(minutes=10)
# The tick's hold on the leader lease: longer than the trigger function's timeout (60 s), so a
# tick still running is never joined by another; a tick killed holding it delays the next by a minute.
CLOUD_TICK_TERM = dt.timedelta(minutes=2)


@dataclass
class Fired:
    runs: list[FlowRun] = field(default_factory=list)
    skipped: str | None = None
    late: int = 0
    reaped: int = 0


def fire_schedule(
    deployments: DeploymentService,
    full_name: str,
    schedule_index: int | None,
    scheduled_time: dt.datetime,
    attempt: int = 1,
) -> Fired:
    """The run of one Scheduler tick. It is sent to its queue when this call creates it (the minute
    tick may have created and sent it ahead), and again on Scheduler's retry (`attempt` > 1), as
    the failed invocation may have created the run without sending it."""
    flow_name, _, name = full_name.partition("/")
    try:
        deployment = deployments.read_deployment(flow_name, name)
    except ObjectNotFound:
        return Fired(skipped=f"deployment {full_name} no longer exists")
    if deployment.schedule_paused:
        return Fired(skipped=f"the schedules of {full_name} are paused")
    if schedule_index is not None:
        if not 0 <= schedule_index < len(deployment.schedules):
            return Fired(skipped=f"{full_name} has no schedule {schedule_index} any more")
        if not deployment.schedules[schedule_index].active:
            return Fired(skipped=f"schedule {schedule_index} of {full_name} is inactive")
    return Fired(runs=[deployments.run_for_fire_time(deployment, scheduled_time, redispatch=attempt > 1)])


def minute_tick(
    deployments_at_tick: DeploymentService, deployments: DeploymentService, lease: LeaderLease | None = None
) -> Fired:
    """The rrule runs due in the tick's minute (`deployments_at_tick`: the service with its clock
    at the tick's scheduled time), then housekeeping on the real clock (`deployments`); skipped
    while another scheduler holds the leader lease (`lease`: by default this invocation's own)."""
    lease = lease or LeaderLease(deployments.store, CLOUD_TICK_TERM, clock=deployments.clock)
    if not lease.hold():
        return Fired(skipped="another scheduler on this table leads (it does the tick's work)")
    try:
        runs = deployments_at_tick.schedule_runs(horizon=UPCOMING_HORIZON)
        return Fired(runs=runs, late=deployments.mark_late_runs(), reaped=deployments.reap_stale_runs())
    finally:
        lease.release()
