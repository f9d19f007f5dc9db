"""The cloud path's test bench: AWS resources on moto's server (or `AWS_ENDPOINT_URL`) — a
DynamoDB table, a Scheduler group, SQS queues, a VPC with a subnet and security group, an ECS
cluster and a Fargate task definition — settings naming them, and the Lambda event shapes the
handlers get (Scheduler payload, SQS batch records, EventBridge events).

Every resource name carries a random suffix, so tests sharing one moto server never meet."""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

ACCOUNT = "123456789012"
REGION = "us-east-1"
TRIGGER_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:mintaka-TriggerFunction"
SCHEDULER_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/mintaka-scheduler"
CONTAINER = "mintaka"

FLOW_SOURCE = """
from mintaka import flow, get_run_logger, task


@task
def shout(text: str) -> str:
    return text.upper()


@flow
def greet(name: str = "world", times: int = 1, event: dict | None = None) -> str:
    greeting = " ".join([f"Hello, {name}!"] * times)
    get_run_logger().info("greeting: %s", greeting)
    get_run_logger().info("shouted: %s", shout(greeting))
    return greeting
"""


@dataclass
class LambdaContext:
    function_name: str = "mintaka-WorkerFunction-AbC123"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:mintaka-WorkerFunction-AbC123"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/mintaka-WorkerFunction-AbC123"
    log_stream_name: str = "2024/05/01/[$LATEST]0123456789abcdef0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def aws(service: str, endpoint: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=os.environ.get("AWS_DEFAULT_REGION", REGION))


def write_project(directory: Path) -> Path:
    """A project with one flow, `flows.py:greet`: the code a local-storage deployment points at."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "flows.py").write_text(FLOW_SOURCE)
    return directory


@dataclass
class EcsNetwork:
    cluster: str
    task_definition: str
    subnet: str
    security_group: str


def create_ecs(endpoint: str, suffix: str) -> EcsNetwork:
    """What moto needs for RunTask on Fargate: a VPC with DNS host names, a subnet, a security
    group, a cluster and a task definition whose container has `memory`."""
    ec2, ecs = aws("ec2", endpoint), aws("ecs", endpoint)
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=f"mintaka-{suffix}", Description="tasks", VpcId=vpc)["GroupId"]
    cluster = ecs.create_cluster(clusterName=f"mintaka-{suffix}")["cluster"]["clusterName"]
    definition = ecs.register_task_definition(
        family=f"mintaka-flow-{suffix}",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="1024",
        memory="2048",
        containerDefinitions=[
            {"name": CONTAINER, "image": "mintaka:latest", "memory": 2048, "essential": True, "command": ["mintaka"]}
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    return EcsNetwork(cluster, definition, subnet, group)


# -- event shapes --------------------------------------------------------------------------------


def minute_floor(at: dt.datetime | None = None) -> dt.datetime:
    return (at or dt.datetime.now(dt.UTC)).replace(second=0, microsecond=0)


def scheduler_payload(schedule: dict[str, Any], scheduled_time: dt.datetime, attempt: int = 1) -> dict[str, Any]:
    """What Scheduler sends the target: the schedule's Input with its context attributes filled."""
    text = schedule["Target"]["Input"]
    text = text.replace("<aws.scheduler.scheduled-time>", scheduled_time.strftime("%Y-%m-%dT%H:%M:%SZ"))
    text = text.replace("<aws.scheduler.execution-id>", str(uuid.uuid4()))
    text = text.replace("<aws.scheduler.attempt-number>", str(attempt))
    return json.loads(text)


def sqs_batch(endpoint: str, queue_url: str, max_messages: int = 10, wait: int = 1) -> dict[str, Any]:
    """Receive messages as Lambda's SQS poller does and shape them as its batch event."""
    client = aws("sqs", endpoint)
    arn = client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    messages = client.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=max_messages,
        WaitTimeSeconds=wait,
        MessageSystemAttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])
    return {"Records": [sqs_record(m, arn) for m in messages]}


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    attributes = message.get("Attributes", {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
            "SentTimestamp": attributes.get("SentTimestamp", "1714550400000"),
            "SenderId": attributes.get("SenderId", "AIDAIENQZJOLO23YVJ4VO"),
            "ApproximateFirstReceiveTimestamp": attributes.get("ApproximateFirstReceiveTimestamp", "1714550400001"),
        },
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def eventbridge_event(source: str, detail_type: str, detail: dict[str, Any], event_id: str | None = None) -> dict:
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": "2024-05-01T09:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": detail,
    }


def http_api_event(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """An API Gateway HTTP API (payload v2) event for the `$default` route."""
    raw = json.dumps(body) if body is not None else None
    # JSON even when bodiless, as the SDK sends it: the API refuses other writes without a key.
    headers = {
        "host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
        "accept": "application/json",
        "content-type": "application/json",
    }
    if raw is not None:
        headers["content-length"] = str(len(raw))
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "a1b2c3d4e5",
            "domainName": headers["host"],
            "domainPrefix": "a1b2c3d4e5",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7"},
            "requestId": uuid.uuid4().hex[:14] + "=",
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": 1714550400000,
        },
        "isBase64Encoded": False,
    }
    if raw is not None:
        event["body"] = raw
    return event
