"""The cloud path against real AWS APIs over HTTP (moto's server, or `AWS_ENDPOINT_URL`):
deployments mirrored as EventBridge Scheduler schedules; the trigger handler invoked with the
Scheduler payload creating exactly one run and sending it to SQS; the worker handler taking
that SQS batch and running the flow from a local-storage deployment (COMPLETED, with the
deployment's parameters and its logs stored), or starting it as an ECS Fargate task; paused
and full work queues; the rrule tick; the API function syncing schedules on deploy."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import textwrap
import time
import tomllib
from pathlib import Path

import pytest
from support.aws_cloud import (
    CONTAINER,
    SCHEDULER_ROLE_ARN,
    TRIGGER_ARN,
    LambdaContext,
    http_api_event,
    minute_floor,
    scheduler_payload,
    sqs_batch,
    sqs_record,
)

from mintaka.deployment_schemas import DeploymentRunCreate, WorkQueueUpdate
from mintaka.exceptions import InvalidRequest, ObjectNotFound
from mintaka.schedules import CronSchedule, IntervalSchedule, RRuleSchedule
from mintaka.schemas import FlowRunFilter
from mintaka.states import StateType, utcnow
from mintaka_server import handlers
from mintaka_server.composition import set_services
from mintaka_server.scheduling.eventbridge import schedule_name, schedule_name_prefix

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]  # AWS services on moto, a bench per test

ROOT = Path(__file__).resolve().parents[2]

BERLIN_WEEKDAYS = CronSchedule(cron="0 9 * * 1-5", timezone="Europe/Berlin")


def schedules_of(bench, full_name: str) -> dict[str, dict]:
    scheduler = bench.client("scheduler")
    group = bench.settings.schedule_group
    listed = scheduler.list_schedules(GroupName=group, NamePrefix=schedule_name_prefix(full_name))["Schedules"]
    return {s["Name"]: scheduler.get_schedule(Name=s["Name"], GroupName=group) for s in listed}


def runs_of(bench, full_name: str):
    return bench.orchestration.list_flow_runs(FlowRunFilter(deployment_name=full_name, limit=50)).items


def queue_depth(bench, work_queue: str = "default") -> int:
    attributes = bench.client("sqs").get_queue_attributes(
        QueueUrl=bench.queue_url(work_queue),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def fire(bench, deployment, index: int = 0, at: dt.datetime | None = None, attempt: int = 1) -> dict:
    schedule = bench.client("scheduler").get_schedule(
        Name=schedule_name(deployment.full_name, index), GroupName=bench.settings.schedule_group
    )
    return handlers.trigger(scheduler_payload(schedule, at or minute_floor(), attempt), LambdaContext())


# -- schedules -----------------------------------------------------------------------------------


def test_deploy_creates_updates_pauses_and_deletes_eventbridge_schedules(cloud_bench):
    deployment = cloud_bench.deploy(
        schedules=[
            BERLIN_WEEKDAYS,
            IntervalSchedule(interval_seconds=900, timezone="UTC"),
            RRuleSchedule(rrule="FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0"),  # the rrule tick serves it
            CronSchedule(cron="30 6 1 * MON", timezone="America/New_York"),  # cron's OR: two schedules
        ]
    )
    found = schedules_of(cloud_bench, "greet/prod")
    names = [schedule_name("greet/prod", i, part) for i, part in ((0, 0), (1, 0), (3, 0), (3, 1))]
    assert sorted(found) == sorted(names)

    cron = found[names[0]]
    assert cron["ScheduleExpression"] == "cron(0 9 ? * MON-FRI *)"
    assert cron["ScheduleExpressionTimezone"] == "Europe/Berlin"
    assert cron["State"] == "ENABLED"
    assert cron["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert cron["Target"]["Arn"] == TRIGGER_ARN
    assert cron["Target"]["RoleArn"] == SCHEDULER_ROLE_ARN
    assert json.loads(cron["Target"]["Input"]) == {
        "deployment": "greet/prod",
        "deployment_id": str(deployment.id),
        "schedule_index": 0,
        "scheduled_time": "<aws.scheduler.scheduled-time>",
        "execution_id": "<aws.scheduler.execution-id>",
        "attempt": "<aws.scheduler.attempt-number>",
    }
    assert found[names[1]]["ScheduleExpression"] == "rate(15 minutes)"
    assert [found[n]["ScheduleExpression"] for n in names[2:]] == ["cron(30 6 1 * ? *)", "cron(30 6 ? * MON *)"]
    assert {found[n]["ScheduleExpressionTimezone"] for n in names[2:]} == {"America/New_York"}

    cloud_bench.deployments.set_deployment_schedule_paused("greet", "prod", paused=True)
    assert {s["State"] for s in schedules_of(cloud_bench, "greet/prod").values()} == {"DISABLED"}
    cloud_bench.deployments.set_deployment_schedule_paused("greet", "prod", paused=False)
    assert {s["State"] for s in schedules_of(cloud_bench, "greet/prod").values()} == {"ENABLED"}

    # Re-deploy with one schedule changed, one made inactive, the rest removed.
    cloud_bench.deploy(
        schedules=[
            CronSchedule(cron="15 7 * * *", timezone="Asia/Kolkata"),
            IntervalSchedule(interval_seconds=7200, active=False),
        ]
    )
    found = schedules_of(cloud_bench, "greet/prod")
    assert sorted(found) == sorted(names[:2])
    assert (found[names[0]]["ScheduleExpression"], found[names[0]]["ScheduleExpressionTimezone"]) == (
        "cron(15 7 * * ? *)",
        "Asia/Kolkata",
    )
    assert (found[names[1]]["ScheduleExpression"], found[names[1]]["State"]) == ("rate(2 hours)", "DISABLED")

    cloud_bench.deploy(name="staging", schedules=[BERLIN_WEEKDAYS])  # another deployment's schedules stay
    cloud_bench.deployments.delete_deployment("greet", "prod")
    assert schedules_of(cloud_bench, "greet/prod") == {}
    assert len(schedules_of(cloud_bench, "greet/staging")) == 1


def test_an_inexpressible_schedule_fails_the_deploy_with_a_clear_error(cloud_bench):
    with pytest.raises(InvalidRequest, match="whole number of minutes"):
        cloud_bench.deploy(schedules=[BERLIN_WEEKDAYS, IntervalSchedule(interval_seconds=90)])
    assert schedules_of(cloud_bench, "greet/prod") == {}  # converted before any Scheduler call
    assert cloud_bench.deployments.list_deployments() == []  # and nothing was stored


# -- trigger → SQS → Lambda worker -----------------------------------------------------------------


def test_a_scheduler_tick_runs_the_flow_in_the_lambda_worker(cloud_bench):
    deployment = cloud_bench.deploy(schedules=[BERLIN_WEEKDAYS])
    at = minute_floor()

    first = fire(cloud_bench, deployment, at=at)
    assert len(first["flow_run_ids"]) == 1 and first["skipped"] is None
    assert queue_depth(cloud_bench) == 1
    again = fire(cloud_bench, deployment, at=at, attempt=2)  # Scheduler delivered it twice
    assert again["flow_run_ids"] == first["flow_run_ids"]
    [run] = runs_of(cloud_bench, "greet/prod")
    assert str(run.id) == first["flow_run_ids"][0]
    assert run.state.type is StateType.SCHEDULED
    assert run.state.state_details.scheduled_time == at
    assert run.work_queue_name == "default"

    batch = sqs_batch(cloud_bench.endpoint, cloud_bench.queue_url())
    assert len(batch["Records"]) == 2  # the repeated delivery re-sent it; the worker claims it once
    assert {json.loads(r["body"])["flow_run_id"] for r in batch["Records"]} == {str(run.id)}
    assert handlers.worker(batch, LambdaContext()) == {"batchItemFailures": []}

    done = cloud_bench.orchestration.read_flow_run(run.id)
    assert done.state.type is StateType.COMPLETED
    assert done.parameters == {"name": "Ada", "times": 2}
    assert done.labels["mintaka.worker"] == "lambda" and done.labels["mintaka.claim"]
    history = [s.name for s in cloud_bench.orchestration.read_flow_run_states(run.id)]
    assert history == ["Scheduled", "Pending", "Running", "Completed"]
    messages = [log.message for log in cloud_bench.orchestration.read_logs(run.id)]
    assert "greeting: Hello, Ada! Hello, Ada!" in messages
    assert "shouted: HELLO, ADA! HELLO, ADA!" in messages
    assert len(runs_of(cloud_bench, "greet/prod")) == 1


def test_trigger_skips_ticks_of_deleted_or_paused_deployments(cloud_bench):
    deployment = cloud_bench.deploy(schedules=[BERLIN_WEEKDAYS])
    schedule = cloud_bench.client("scheduler").get_schedule(
        Name=schedule_name("greet/prod", 0), GroupName=cloud_bench.settings.schedule_group
    )
    payload = scheduler_payload(schedule, minute_floor())
    cloud_bench.deployments.set_deployment_schedule_paused("greet", "prod", paused=True)
    assert handlers.trigger(payload, LambdaContext()) == {
        "flow_run_ids": [],
        "skipped": "the schedules of greet/prod are paused",
    }
    cloud_bench.deployments.delete_deployment("greet", "prod")
    assert handlers.trigger(payload, LambdaContext())["skipped"] == "deployment greet/prod no longer exists"
    assert runs_of(cloud_bench, deployment.full_name) == []
    assert queue_depth(cloud_bench) == 0


def test_the_rrule_tick_creates_each_due_rrule_run_once(cloud_bench):
    at = minute_floor()
    daily = RRuleSchedule(rrule=f"FREQ=DAILY;BYHOUR={at.hour};BYMINUTE={at.minute};BYSECOND=0")
    far_cron = CronSchedule(cron=f"{at.minute} {(at.hour + 12) % 24} * * *")  # never within the tick's horizon
    cloud_bench.deploy(schedules=[daily, far_cron])
    tick = {"rrule_tick": True, "scheduled_time": at.strftime("%Y-%m-%dT%H:%M:%SZ")}
    first = handlers.trigger(tick, LambdaContext())
    assert len(first["flow_run_ids"]) == 1
    assert handlers.trigger(tick, LambdaContext())["flow_run_ids"] == []  # a repeated tick creates nothing again
    following = {"rrule_tick": True, "scheduled_time": (at + dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert handlers.trigger(following, LambdaContext())["flow_run_ids"] == []  # the next minute: no fire
    runs = runs_of(cloud_bench, "greet/prod")
    assert [r.state.state_details.scheduled_time for r in runs] == [at]  # the far cron schedule made none


def delayed_messages(bench) -> int:
    attributes = bench.client("sqs").get_queue_attributes(
        QueueUrl=bench.queue_url(), AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessagesDelayed"])


def test_the_minute_tick_creates_upcoming_runs_ahead_and_sends_each_once(cloud_bench):
    at = minute_floor()
    soon = at + dt.timedelta(minutes=5)
    deployment = cloud_bench.deploy(schedules=[CronSchedule(cron=f"{soon.minute} {soon.hour} * * *")])
    tick = {"rrule_tick": True, "scheduled_time": at.strftime("%Y-%m-%dT%H:%M:%SZ")}
    handlers.trigger(tick, LambdaContext())
    [upcoming] = runs_of(cloud_bench, "greet/prod")
    assert upcoming.state.type is StateType.SCHEDULED and upcoming.expected_start_time == soon
    assert delayed_messages(cloud_bench) == 1  # sent with an SQS delay until it is due
    handlers.trigger(
        {**tick, "scheduled_time": (at + dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}, LambdaContext()
    )
    assert len(runs_of(cloud_bench, "greet/prod")) == 1 and delayed_messages(cloud_bench) == 1  # not sent again
    # Scheduler's own tick for that time finds the same run and does not send it again...
    fired = fire(cloud_bench, deployment, at=soon)
    assert fired["flow_run_ids"] == [str(upcoming.id)]
    assert delayed_messages(cloud_bench) == 1
    # ...unless it is Scheduler's retry (the failed invocation may have created it unsent).
    assert fire(cloud_bench, deployment, at=soon, attempt=2)["flow_run_ids"] == [str(upcoming.id)]
    assert delayed_messages(cloud_bench) == 2


def test_the_minute_tick_marks_late_runs_and_reaps_lost_ones(cloud_bench):
    from mintaka.schemas import SetStateRequest
    from mintaka.states import State
    from mintaka_server.services.deployments import DeploymentService

    cloud_bench.deploy()
    late = cloud_bench.deployments.create_deployment_run(
        "greet", "prod", DeploymentRunCreate(scheduled_time=utcnow() - dt.timedelta(minutes=2))
    )
    lost = cloud_bench.deployments.create_deployment_run("greet", "prod", DeploymentRunCreate())
    for state in (StateType.PENDING, StateType.RUNNING):
        cloud_bench.orchestration.set_flow_run_state(lost.id, SetStateRequest(state=State(type=state)))
    five_minutes_ago = DeploymentService(cloud_bench.orchestration, clock=lambda: utcnow() - dt.timedelta(minutes=5))
    five_minutes_ago.heartbeat_flow_run(lost.id)  # its executor's last beat

    tick = {"rrule_tick": True, "scheduled_time": minute_floor().strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert handlers.trigger(tick, LambdaContext())["flow_run_ids"] == []
    assert cloud_bench.orchestration.read_flow_run(late.id).state.name == "Late"
    assert cloud_bench.orchestration.read_flow_run(lost.id).state.type is StateType.CRASHED


def test_a_lost_run_with_retries_left_is_requeued_to_sqs_and_a_worker_finishes_it(cloud_bench):
    from mintaka.schemas import SetStateRequest
    from mintaka.states import State
    from mintaka_server.services.deployments import DeploymentService

    cloud_bench.deploy(retries=1)
    run = cloud_bench.deployments.create_deployment_run("greet", "prod", DeploymentRunCreate())
    [first] = sqs_batch(cloud_bench.endpoint, cloud_bench.queue_url())["Records"]  # a worker took it...
    for state in (StateType.PENDING, StateType.RUNNING):
        cloud_bench.orchestration.set_flow_run_state(run.id, SetStateRequest(state=State(type=state)))
    five_minutes_ago = DeploymentService(cloud_bench.orchestration, clock=lambda: utcnow() - dt.timedelta(minutes=5))
    five_minutes_ago.heartbeat_flow_run(run.id)  # its last beat; then its Lambda timed out

    tick = {"rrule_tick": True, "scheduled_time": minute_floor().strftime("%Y-%m-%dT%H:%M:%SZ")}
    handlers.trigger(tick, LambdaContext())
    requeued = cloud_bench.orchestration.read_flow_run(run.id).state
    assert (requeued.type, requeued.name) == (StateType.SCHEDULED, "Requeued")
    assert "No heartbeat" in requeued.message

    batch = sqs_batch(cloud_bench.endpoint, cloud_bench.queue_url())
    assert [json.loads(r["body"])["flow_run_id"] for r in batch["Records"]] == [str(run.id)]
    assert handlers.worker(batch, LambdaContext()) == {"batchItemFailures": []}
    history = [s.name for s in cloud_bench.orchestration.read_flow_run_states(run.id)]
    assert history == ["Scheduled", "Pending", "Running", "Crashed", "Requeued", "Pending", "Running", "Completed"]
    assert cloud_bench.orchestration.read_flow_run(run.id).run_count == 2
    assert batch["Records"][0]["messageId"] != first["messageId"]  # a new message, not the lost one


def test_a_work_queue_without_an_sqs_queue_is_refused_with_the_command_that_creates_it(cloud_bench):
    from mintaka_core.exceptions import status_for
    from mintaka_server.queues.sqs import WorkQueueMissing

    with pytest.raises(WorkQueueMissing, match=r"mintaka work-queue create reports") as refused:
        cloud_bench.deploy(work_queue_name="reports")
    assert status_for(refused.value) == 409  # a 4xx through the API, not a 500
    with pytest.raises(ObjectNotFound, match="No deployment"):
        cloud_bench.deployments.read_deployment("greet", "prod")  # nothing was stored
    sqs = cloud_bench.client("sqs")
    assert sqs.list_queues(QueueNamePrefix=f"{cloud_bench.settings.queue_prefix}reports").get("QueueUrls", []) == []


def test_mintaka_work_queue_create_provisions_the_sqs_queue_and_its_dead_letter_queue(cloud_bench, monkeypatch):
    from mintaka.cli import main
    from mintaka.client import set_client
    from mintaka.settings import reset_settings
    from mintaka_server.server_settings import reset_server_settings

    settings = cloud_bench.settings
    env = {
        "MINTAKA_WORK_QUEUES": "sqs",
        "MINTAKA_QUEUE_PREFIX": settings.queue_prefix,
        "MINTAKA_QUEUE_VISIBILITY_TIMEOUT": "60",
        "MINTAKA_AWS_ENDPOINT_URL": settings.aws_endpoint_url,
        "MINTAKA_AWS_REGION": settings.aws_region,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_server_settings()
    previous = set_client(None)
    try:
        try:
            main(["work-queue", "create", "reports"])
        except SystemExit as exit:
            assert exit.code in (0, None)
    finally:
        set_client(previous)
        reset_settings()
        reset_server_settings()

    cloud_bench.deploy(work_queue_name="reports")
    run = cloud_bench.deployments.create_deployment_run("greet", "prod", DeploymentRunCreate())
    sqs = cloud_bench.client("sqs")
    url = cloud_bench.queue_url("reports")
    assert url.endswith(f"{settings.queue_prefix}reports")
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    redrive = json.loads(attributes["RedrivePolicy"])
    dlq_url = cloud_bench.cloud.queues.dead_letter_url("reports")
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert redrive["deadLetterTargetArn"] == dlq_arn
    assert int(redrive["maxReceiveCount"]) == settings.queue_max_receive_count
    assert attributes["VisibilityTimeout"] == "60"
    [record] = sqs_batch(cloud_bench.endpoint, url)["Records"]
    assert json.loads(record["body"])["flow_run_id"] == str(run.id)


# -- Fargate ---------------------------------------------------------------------------------------


def test_a_fargate_run_is_started_with_run_task_and_its_container_runs_it(cloud_bench):
    from mintaka_server.execution.in_process import execute_in_process

    deployment = cloud_bench.deploy(infrastructure="fargate", schedules=[BERLIN_WEEKDAYS])
    [run_id] = fire(cloud_bench, deployment)["flow_run_ids"]
    batch = sqs_batch(cloud_bench.endpoint, cloud_bench.queue_url())
    assert handlers.worker(batch, LambdaContext()) == {"batchItemFailures": []}

    ecs = cloud_bench.client("ecs")
    [task_arn] = ecs.list_tasks(cluster=cloud_bench.ecs.cluster, startedBy=run_id)["taskArns"]
    [task] = ecs.describe_tasks(cluster=cloud_bench.ecs.cluster, tasks=[task_arn])["tasks"]
    assert task["launchType"] == "FARGATE"
    assert task["taskDefinitionArn"] == cloud_bench.ecs.task_definition
    [override] = task["overrides"]["containerOverrides"]
    assert override["name"] == CONTAINER
    assert override["command"] == ["mintaka", "flow-run", "execute", run_id]
    environment = {e["name"]: e["value"] for e in override["environment"]}

    run = cloud_bench.orchestration.read_flow_run(run_id)
    assert run.state.type is StateType.PENDING  # claimed for the task
    assert run.labels["mintaka.ecs.task_arn"] == task_arn
    assert run.labels["mintaka.ecs.cluster"] == cloud_bench.ecs.cluster
    assert environment == {"MINTAKA_FLOW_RUN_CLAIM": run.labels["mintaka.claim"]}

    # The container: the same executor, handed the claim through its environment.
    stranger = execute_in_process(run.id, cloud_bench.orchestration, cloud_bench.deployments, claim="not-the-task")
    assert stranger.state is None
    execution = execute_in_process(
        run.id, cloud_bench.orchestration, cloud_bench.deployments, claim=environment["MINTAKA_FLOW_RUN_CLAIM"]
    )
    assert execution.state.type is StateType.COMPLETED
    done = cloud_bench.orchestration.read_flow_run(run_id)
    assert done.state.type is StateType.COMPLETED and done.parameters == {"name": "Ada", "times": 2}
    assert "greeting: Hello, Ada! Hello, Ada!" in [log.message for log in cloud_bench.orchestration.read_logs(run.id)]


def test_a_fargate_run_already_claimed_elsewhere_stops_the_task_it_started(cloud_bench):
    from mintaka.schemas import SetStateRequest
    from mintaka.states import State

    cloud_bench.deploy(infrastructure="fargate")
    run = cloud_bench.deployments.create_deployment_run("greet", "prod", DeploymentRunCreate())
    [record] = sqs_batch(cloud_bench.endpoint, cloud_bench.queue_url())["Records"]
    message = cloud_bench.cloud.queues.message_from_record(record)
    launch = cloud_bench.cloud.worker.launcher.launch

    def launch_then_lose_the_race(flow_run, claim):
        arn = launch(flow_run, claim)
        cloud_bench.orchestration.set_flow_run_state(run.id, SetStateRequest(state=State(type=StateType.PENDING)))
        return arn

    cloud_bench.cloud.worker.launcher.launch = launch_then_lose_the_race
    try:
        outcome = cloud_bench.cloud.worker.process(message)
    finally:
        del cloud_bench.cloud.worker.launcher.launch
    assert outcome.action == "skipped"
    ecs = cloud_bench.client("ecs")
    [arn] = ecs.list_tasks(cluster=cloud_bench.ecs.cluster, startedBy=str(run.id), desiredStatus="STOPPED")["taskArns"]
    [task] = ecs.describe_tasks(cluster=cloud_bench.ecs.cluster, tasks=[arn])["tasks"]
    assert "claimed by another worker" in task["stoppedReason"]
    assert "mintaka.ecs.task_arn" not in cloud_bench.orchestration.read_flow_run(run.id).labels


# -- work queues: paused, full, not due ------------------------------------------------------------


def test_a_paused_queue_fails_the_item_and_loses_nothing(cloud_bench, monkeypatch):
    from mintaka_server.services import run_worker

    monkeypatch.setattr(run_worker, "PAUSED_RETRY_SECONDS", 2.0)
    cloud_bench.create_work_queue("nightly", paused=True)
    deployment = cloud_bench.deploy(work_queue_name="nightly", schedules=[BERLIN_WEEKDAYS])
    [run_id] = fire(cloud_bench, deployment)["flow_run_ids"]
    url = cloud_bench.queue_url("nightly")
    batch = sqs_batch(cloud_bench.endpoint, url)
    [record] = batch["Records"]

    assert handlers.worker(batch, LambdaContext()) == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    assert cloud_bench.orchestration.read_flow_run(run_id).state.type is StateType.SCHEDULED
    assert sqs_batch(cloud_bench.endpoint, url, wait=0)["Records"] == []  # released with a delay

    cloud_bench.deployments.update_work_queue("nightly", WorkQueueUpdate(paused=False))
    deadline = time.monotonic() + 10
    while not (batch := sqs_batch(cloud_bench.endpoint, url))["Records"] and time.monotonic() < deadline:
        pass
    assert [r["messageId"] for r in batch["Records"]] == [record["messageId"]]
    assert batch["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"
    assert handlers.worker(batch, LambdaContext()) == {"batchItemFailures": []}
    assert cloud_bench.orchestration.read_flow_run(run_id).state.type is StateType.COMPLETED


def test_a_full_queue_or_a_run_not_due_fails_the_item_and_keeps_the_run(cloud_bench):
    cloud_bench.create_work_queue("tiny", concurrency_limit=0)
    cloud_bench.deploy(work_queue_name="tiny")
    full = cloud_bench.deployments.create_deployment_run("greet", "prod", DeploymentRunCreate())
    batch = sqs_batch(cloud_bench.endpoint, cloud_bench.queue_url("tiny"))
    assert len(handlers.worker(batch, LambdaContext())["batchItemFailures"]) == 1
    assert cloud_bench.orchestration.read_flow_run(full.id).state.type is StateType.SCHEDULED

    cloud_bench.deploy(name="later")
    later = cloud_bench.deployments.create_deployment_run(
        "greet", "later", DeploymentRunCreate(scheduled_time=utcnow() + dt.timedelta(hours=2))
    )
    assert sqs_batch(cloud_bench.endpoint, cloud_bench.queue_url(), wait=0)["Records"] == []  # delayed 15 min
    early = {  # as if SQS had delivered it already (its 15-minute delay is over, the run is not due)
        "MessageId": "m-early",
        "ReceiptHandle": "gone",
        "Body": json.dumps({"flow_run_id": str(later.id), "work_queue": "default", "due": None}),
    }
    arn = f"arn:aws:sqs:us-east-1:123456789012:{cloud_bench.settings.queue_prefix}default"
    answer = handlers.worker({"Records": [sqs_record(early, arn)]}, LambdaContext())
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-early"}]}
    assert cloud_bench.orchestration.read_flow_run(later.id).state.type is StateType.SCHEDULED


def test_unknown_or_already_started_runs_are_acked_not_retried(cloud_bench):
    cloud_bench.deploy()
    run = cloud_bench.deployments.create_deployment_run("greet", "prod", DeploymentRunCreate())
    [record] = sqs_batch(cloud_bench.endpoint, cloud_bench.queue_url())["Records"]
    assert handlers.worker({"Records": [record, record]}, LambdaContext()) == {"batchItemFailures": []}
    assert cloud_bench.orchestration.read_flow_run(run.id).state.type is StateType.COMPLETED
    ghost = dict(record, messageId="m-ghost", body=json.dumps({"flow_run_id": "6f1c2a5e-0000-4000-8000-000000000000"}))
    assert handlers.worker({"Records": [ghost]}, LambdaContext()) == {"batchItemFailures": []}
    garbage = dict(record, messageId="m-garbage", body="not a run")
    assert handlers.worker({"Records": [garbage]}, LambdaContext()) == {
        "batchItemFailures": [{"itemIdentifier": "m-garbage"}]
    }


# -- the API function syncs schedules on deploy ----------------------------------------------------


def test_the_api_function_syncs_schedules_when_a_deployment_is_posted(cloud_bench, monkeypatch):
    settings = cloud_bench.settings
    env = {
        "MINTAKA_STORE": "dynamodb",
        "MINTAKA_TABLE_PREFIX": settings.table_prefix,
        "MINTAKA_AWS_ENDPOINT_URL": settings.aws_endpoint_url,
        "MINTAKA_API_AUTH": "false",
        "MINTAKA_SCHEDULE_GROUP": settings.schedule_group,
        "MINTAKA_TRIGGER_FUNCTION_ARN": settings.trigger_function_arn,
        "MINTAKA_SCHEDULER_ROLE_ARN": settings.scheduler_role_arn,
        "MINTAKA_WORK_QUEUES": "sqs",
        "MINTAKA_QUEUE_PREFIX": settings.queue_prefix,
        "MINTAKA_QUEUE_VISIBILITY_TIMEOUT": "60",
    }
    if not hasattr(cloud_bench.cloud.store, "delete_table"):
        pytest.skip("the API function's store is DynamoDB; this run uses SQLite")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    bench_cloud = set_services(None)  # handlers.reset() closes the cloud services it finds
    handlers.reset()
    try:
        body = {
            "flow_name": "greet",
            "name": "api",
            "entrypoint": "flows.py:greet",
            "storage": {"type": "local", "url": str(cloud_bench.project)},
            "schedules": [{"type": "cron", "cron": "0 9 * * 1-5", "timezone": "Europe/Berlin"}],
        }
        response = handlers.api(http_api_event("POST", "/api/deployments", body), LambdaContext())
        assert response["statusCode"] == 200, response
        [schedule] = schedules_of(cloud_bench, "greet/api").values()
        assert schedule["ScheduleExpression"] == "cron(0 9 ? * MON-FRI *)"

        response = handlers.api(http_api_event("POST", "/api/deployments/greet/api/runs", {}), LambdaContext())
        assert response["statusCode"] == 201, response
        [record] = sqs_batch(cloud_bench.endpoint, cloud_bench.queue_url())["Records"]
        assert json.loads(record["body"])["flow_run_id"] == json.loads(response["body"])["id"]

        response = handlers.api(http_api_event("DELETE", "/api/deployments/greet/api"), LambdaContext())
        assert response["statusCode"] == 204
        assert schedules_of(cloud_bench, "greet/api") == {}
    finally:
        handlers.reset()
        set_services(bench_cloud)


# -- the Lambda package ----------------------------------------------------------------------------

MODULE_OF = {"pyyaml": "yaml", "python_dateutil": "dateutil"}


def _requirement_names(lines) -> set[str]:
    names = set()
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(re.split(r"[\s\[<>=!~;]", line, maxsplit=1)[0].lower().replace("-", "_"))
    return names


def test_the_worker_runs_flows_with_only_the_lambda_packages_dependencies(cloud_bench, tmp_path):
    """The functions ship the project plus infra/lambda/requirements.txt: with every other project
    dependency unimportable (the CLI's, uvicorn, YAML), the worker handler, in a
    fresh process configured from the environment only, still runs a deployed flow."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    shipped = _requirement_names((ROOT / "infra" / "lambda" / "requirements.txt").read_text().splitlines())
    blocked = sorted(MODULE_OF.get(name, name) for name in _requirement_names(project) - shipped)
    assert {"uvicorn", "typer", "rich"} <= set(blocked)
    assert "httpx" not in blocked  # shipped: the template's worker reports through the API

    cloud_bench.deploy()
    run = cloud_bench.deployments.create_deployment_run("greet", "prod", DeploymentRunCreate())
    batch = sqs_batch(cloud_bench.endpoint, cloud_bench.queue_url())
    script = textwrap.dedent(
        f"""
        import json, sys
        for name in {blocked!r}:
            sys.modules[name] = None  # importing it now raises ImportError
        from support.aws_cloud import LambdaContext
        from mintaka_server import handlers

        print("ANSWER " + json.dumps(handlers.worker(json.loads(sys.argv[1]), LambdaContext())))
        """
    )
    settings = cloud_bench.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINTAKA_")}
    env.update(
        MINTAKA_HOME=str(tmp_path / "lambda-home"),
        MINTAKA_STORE="dynamodb",
        MINTAKA_TABLE_PREFIX=settings.table_prefix,
        MINTAKA_AWS_ENDPOINT_URL=settings.aws_endpoint_url,
        MINTAKA_WORK_QUEUES="sqs",
        MINTAKA_QUEUE_PREFIX=settings.queue_prefix,
        PYTHONPATH=str(ROOT / "tests"),
    )
    if not hasattr(cloud_bench.cloud.store, "delete_table"):
        env.update(MINTAKA_STORE="sqlite", MINTAKA_DATABASE=str(cloud_bench.cloud.store.path))
    out = subprocess.run(
        [sys.executable, "-c", script, json.dumps(batch)], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    [answer] = [line for line in out.stdout.splitlines() if line.startswith("ANSWER ")]
    assert json.loads(answer.removeprefix("ANSWER ")) == {"batchItemFailures": []}
    assert cloud_bench.orchestration.read_flow_run(run.id).state.type is StateType.COMPLETED
