"""Every Scheduler schedule the API creates for a deployment parks undeliverable ticks in the
stack's DLQ (`MINTAKA_SCHEDULER_DLQ_ARN`, template.yaml's SchedulerDLQ), beside its retry policy.
Against EventBridge Scheduler over HTTP (moto's server, or `AWS_ENDPOINT_URL`)."""

from __future__ import annotations

import pytest

from mintaka.schedules import CronSchedule
from mintaka_server.composition import build_schedule_sync
from mintaka_server.scheduling.eventbridge import RETRY_POLICY, schedule_name

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]  # AWS services on moto, a bench per test

DLQ_ARN = "arn:aws:sqs:us-east-1:123456789012:mintaka-SchedulerDLQ-abc"


def test_deployment_schedules_retry_then_park_their_ticks_in_the_dead_letter_queue(cloud_bench):
    settings = cloud_bench.settings.model_copy(update={"scheduler_dlq_arn": DLQ_ARN})
    cloud_bench.deployments.schedule_sync = build_schedule_sync(settings)
    deployment = cloud_bench.deploy(schedules=[CronSchedule(cron="0 9 * * *", timezone="UTC")])

    target = cloud_bench.client("scheduler").get_schedule(
        Name=schedule_name(deployment.full_name, 0), GroupName=settings.schedule_group
    )["Target"]
    assert target["DeadLetterConfig"] == {"Arn": DLQ_ARN}
    assert target["RetryPolicy"] == RETRY_POLICY
