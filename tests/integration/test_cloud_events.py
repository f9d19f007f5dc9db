"""Event-driven runs in the cloud: the events handler takes EventBridge rule events and SQS
messages (moto's server, or `AWS_ENDPOINT_URL`), creates one run per matching deployment,
idempotent per event id, with the event as a parameter, and sends it to its work queue."""

from __future__ import annotations

import json
import uuid

import pytest
from support.aws_cloud import LambdaContext, eventbridge_event, sqs_batch

from mintaka.deployment_schemas import EventTrigger
from mintaka.schemas import FlowRunFilter
from mintaka.states import StateType
from mintaka_server import handlers

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]  # AWS services on moto, a bench per test

ORDERS = EventTrigger(type="eventbridge", match={"source": ["app.orders"], "detail_type": ["OrderPlaced"]})


def runs_of(bench, full_name: str):
    return bench.orchestration.list_flow_runs(FlowRunFilter(deployment_name=full_name, limit=50)).items


def test_an_eventbridge_event_creates_one_run_with_the_event_as_parameter(cloud_bench):
    cloud_bench.deploy(name="on-order", triggers=[ORDERS])
    event = eventbridge_event("app.orders", "OrderPlaced", {"order": 42})

    first = handlers.events(event, LambdaContext())
    assert len(first["flow_run_ids"]) == 1
    assert handlers.events(event, LambdaContext()) == first  # redelivered: the same run
    assert handlers.events(eventbridge_event("app.billing", "OrderPlaced", {}), LambdaContext()) == {"flow_run_ids": []}

    [run] = runs_of(cloud_bench, "greet/on-order")
    assert str(run.id) == first["flow_run_ids"][0]
    received = run.parameters["event"]
    assert (received["id"], received["source"], received["detail_type"]) == (event["id"], "app.orders", "OrderPlaced")
    assert received["detail"] == {"order": 42}
    assert run.parameters["name"] == "Ada"

    batch = sqs_batch(cloud_bench.endpoint, cloud_bench.queue_url())
    assert [json.loads(r["body"])["flow_run_id"] for r in batch["Records"]] == [str(run.id)] * 2
    assert handlers.worker(batch, LambdaContext()) == {"batchItemFailures": []}
    assert cloud_bench.orchestration.read_flow_run(run.id).state.type is StateType.COMPLETED


def test_sqs_messages_create_runs_idempotent_per_message_id(cloud_bench):
    sqs = cloud_bench.client("sqs")
    name = f"{cloud_bench.settings.queue_prefix}uploads"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    cloud_bench.deploy(name="on-upload", triggers=[EventTrigger(type="sqs", queue_url=url, match={"source": [arn]})])
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"bucket": "landing", "key": "2024/05/01.csv"}))
    sqs.send_message(QueueUrl=url, MessageBody="plain text, not JSON")

    batch = sqs_batch(cloud_bench.endpoint, url)
    assert len(batch["Records"]) == 2
    assert handlers.events(batch, LambdaContext()) == {"batchItemFailures": []}
    assert handlers.events(batch, LambdaContext()) == {"batchItemFailures": []}  # redelivered batch

    runs = runs_of(cloud_bench, "greet/on-upload")
    assert len(runs) == 2
    details = sorted(json.dumps(r.parameters["event"]["detail"]) for r in runs)
    assert details == [
        json.dumps({"body": "plain text, not JSON"}),
        json.dumps({"bucket": "landing", "key": "2024/05/01.csv"}),
    ]
    assert {r.parameters["event"]["id"] for r in runs} == {r["messageId"] for r in batch["Records"]}
    assert {r.parameters["event"]["detail_type"] for r in runs} == {"SQS Message"}


def test_an_eventbridge_rule_to_sqs_keeps_the_event_id(cloud_bench):
    """EventBridge rule → SQS target → the events function's SQS event source: the run is keyed
    by the EventBridge event's id, so a direct delivery of the same event makes no second run."""
    events, sqs = cloud_bench.client("events"), cloud_bench.client("sqs")
    url = sqs.create_queue(QueueName=f"{cloud_bench.settings.queue_prefix}events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = f"mintaka-{uuid.uuid4().hex[:8]}"
    events.create_event_bus(Name=bus)
    rule = "orders-to-mintaka"
    events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps({"source": ["app.orders"]}))
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "mintaka", "Arn": arn}])
    try:
        cloud_bench.deploy(name="on-order", triggers=[ORDERS])
        entry = {
            "Source": "app.orders",
            "DetailType": "OrderPlaced",
            "Detail": json.dumps({"order": 7}),
            "EventBusName": bus,
        }
        assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0

        batch = sqs_batch(cloud_bench.endpoint, url)
        [record] = batch["Records"]
        forwarded = json.loads(record["body"])
        assert handlers.events(batch, LambdaContext()) == {"batchItemFailures": []}
        [run] = runs_of(cloud_bench, "greet/on-order")
        assert run.parameters["event"]["id"] == forwarded["id"] != record["messageId"]
        assert run.parameters["event"]["detail"] == {"order": 7}
        assert handlers.events(forwarded, LambdaContext())["flow_run_ids"] == [str(run.id)]
    finally:
        events.remove_targets(Rule=rule, EventBusName=bus, Ids=["mintaka"])
        events.delete_rule(Name=rule, EventBusName=bus)
        events.delete_event_bus(Name=bus)
