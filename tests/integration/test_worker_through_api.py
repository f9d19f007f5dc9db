"""The template's Lambda worker holds no right on the table: it reports through the API with a
`write` key that the stack's custom resource (`Custom::MintakaApiKey`) made and wrote into a
Secrets Manager secret. Against real AWS APIs over HTTP (moto's server, or `AWS_ENDPOINT_URL`)
and the API served by uvicorn on loopback; CloudFormation's answer goes to a presigned S3 URL,
as in a real deploy."""

from __future__ import annotations

import json
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from support.aws_cloud import LambdaContext, minute_floor, scheduler_payload, sqs_batch
from support.servers import serve_in_thread

from mintaka.deployment_schemas import DeploymentRunCreate
from mintaka.schedules import CronSchedule
from mintaka.schemas import ApiKeyScope
from mintaka.states import StateType
from mintaka_server import handlers, stack_api_key
from mintaka_server.execution import through_api
from mintaka_server.scheduling.eventbridge import schedule_name
from mintaka_server.services.api_keys import ApiKeyService

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]  # AWS services on moto, a bench per test


@dataclass
class Stack:
    """What a deploy leaves: the secret, the custom resource's answers, the API's URL."""

    bench: object
    secret_arn: str
    bucket: str
    api_url: str

    def custom_resource(self, request_type: str, **extra) -> dict:
        """Send CloudFormation's request to the handler; returns the answer it PUT to S3."""
        s3 = self.bench.client("s3")
        key = f"answers/{uuid.uuid4().hex}"
        event = {
            "RequestType": request_type,
            "ResponseURL": s3.generate_presigned_url("put_object", Params={"Bucket": self.bucket, "Key": key}),
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/mintaka/1",
            "RequestId": str(uuid.uuid4()),
            "LogicalResourceId": "WorkerApiKey",
            "ResourceType": "Custom::MintakaApiKey",
            "ResourceProperties": {"SecretArn": self.secret_arn, "Name": "lambda-worker", "Scope": "write"},
            **extra,
        }
        assert stack_api_key.handler(event, LambdaContext()) is None
        return json.loads(s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def secret(self) -> str:
        return self.bench.client("secretsmanager").get_secret_value(SecretId=self.secret_arn)["SecretString"]


@pytest.fixture
def stack(cloud_bench, monkeypatch) -> Iterator[Stack]:
    from mintaka.settings import reset_settings
    from mintaka_server.api import create_app
    from mintaka_server.server_settings import reset_server_settings

    suffix = uuid.uuid4().hex[:10]
    secret_arn = cloud_bench.client("secretsmanager").create_secret(Name=f"worker-key-{suffix}")["ARN"]
    bucket = f"cfn-answers-{suffix}"
    cloud_bench.client("s3").create_bucket(Bucket=bucket)
    settings = cloud_bench.settings
    # The functions' environment (template.yaml): the store and queues of the bench.
    for name, value in {
        "MINTAKA_STORE": "dynamodb",
        "MINTAKA_TABLE_PREFIX": settings.table_prefix,
        "MINTAKA_AWS_ENDPOINT_URL": settings.aws_endpoint_url,
        "MINTAKA_WORK_QUEUES": "sqs",
        "MINTAKA_QUEUE_PREFIX": settings.queue_prefix,
    }.items():
        monkeypatch.setenv(name, value)
    app = create_app(cloud_bench.orchestration, require_api_key=True, deployments=cloud_bench.deployments)
    with serve_in_thread(app) as url:
        reset_settings()
        reset_server_settings()
        yield Stack(cloud_bench, secret_arn, bucket, f"{url}/api")
        reset_settings()
        reset_server_settings()


def as_the_templates_worker(stack: Stack, monkeypatch) -> None:
    """WorkerFunction's environment: the API's URL and the secret, no key in plain text."""
    from mintaka.settings import reset_settings
    from mintaka_server.server_settings import reset_server_settings

    monkeypatch.setenv("MINTAKA_API_URL", stack.api_url)
    monkeypatch.setenv("MINTAKA_API_KEY_SECRET_ARN", stack.secret_arn)
    monkeypatch.delenv("MINTAKA_API_KEY", raising=False)
    reset_settings()
    reset_server_settings()


def fire_one_run(bench) -> str:
    deployment = bench.deploy(schedules=[CronSchedule(cron="0 9 * * *")])
    schedule = bench.client("scheduler").get_schedule(
        Name=schedule_name(deployment.full_name, 0), GroupName=bench.settings.schedule_group
    )
    [run_id] = handlers.trigger(scheduler_payload(schedule, minute_floor()), LambdaContext())["flow_run_ids"]
    return run_id


def test_the_stack_makes_a_write_key_the_worker_alone_reads_and_revokes_it_on_delete(stack):
    created = stack.custom_resource("Create")
    assert created["Status"] == "SUCCESS", created["Reason"]
    assert created["NoEcho"] is True  # the key never shows in CloudFormation's events
    key_id = created["PhysicalResourceId"]
    assert created["Data"] == {"KeyId": key_id, "SecretArn": stack.secret_arn}
    assert stack.secret() not in json.dumps(created)

    keys = ApiKeyService(stack.bench.cloud.store, cache_seconds=0)
    live = keys.verify(stack.secret())
    assert (live.id, live.name, live.scope) == (key_id, "lambda-worker", ApiKeyScope.write)  # not admin

    rotated = stack.custom_resource("Update", PhysicalResourceId=key_id)
    assert rotated["Status"] == "SUCCESS" and rotated["PhysicalResourceId"] != key_id
    assert keys.verify(stack.secret()).id == rotated["PhysicalResourceId"]
    # CloudFormation then deletes the replaced resource: the old key is revoked.
    assert stack.custom_resource("Delete", PhysicalResourceId=key_id)["Status"] == "SUCCESS"
    assert [k.revoked is not None for k in keys.list() if k.id == key_id] == [True]
    assert keys.verify(stack.secret()) is not None

    assert stack.custom_resource("Delete", PhysicalResourceId=rotated["PhysicalResourceId"])["Status"] == "SUCCESS"
    assert keys.verify(stack.secret()) is None


def test_a_key_that_cannot_be_stored_fails_the_deploy_and_stays_revoked(stack):
    stack.secret_arn = stack.secret_arn + "-missing"
    answer = stack.custom_resource("Create")
    assert answer["Status"] == "FAILED"
    assert "ResourceNotFoundException" in answer["Reason"] or "not" in answer["Reason"].lower()
    keys = ApiKeyService(stack.bench.cloud.store, cache_seconds=0).list()
    assert keys and all(k.revoked is not None for k in keys)  # made, then revoked: nobody holds it
    # Deleting the failed resource (CloudFormation's rollback) succeeds and touches nothing.
    assert stack.custom_resource("Delete", PhysicalResourceId=answer["PhysicalResourceId"])["Status"] == "SUCCESS"


def test_the_worker_runs_a_scheduled_flow_through_the_api_with_the_stacks_key(stack, monkeypatch):
    assert stack.custom_resource("Create")["Status"] == "SUCCESS"
    run_id = fire_one_run(stack.bench)
    as_the_templates_worker(stack, monkeypatch)

    batch = sqs_batch(stack.bench.endpoint, stack.bench.queue_url())
    assert handlers.worker(batch, LambdaContext()) == {"batchItemFailures": []}
    services = through_api.worker_services()
    assert isinstance(services, through_api.ApiWorkerServices) and not hasattr(services, "store")

    orchestration = stack.bench.orchestration
    done = orchestration.read_flow_run(run_id)
    assert done.state.type is StateType.COMPLETED
    assert done.labels["mintaka.worker"] == "lambda"
    assert [s.name for s in orchestration.read_flow_run_states(run_id)] == [
        "Scheduled",
        "Pending",
        "Running",
        "Completed",
    ]
    assert "greeting: Hello, Ada! Hello, Ada!" in [log.message for log in orchestration.read_logs(run_id)]
    services.close()


def test_a_worker_whose_key_is_revoked_changes_nothing_and_gives_the_message_back(stack, monkeypatch):
    created = stack.custom_resource("Create")
    ApiKeyService(stack.bench.cloud.store).revoke(created["PhysicalResourceId"])
    run_id = fire_one_run(stack.bench)
    as_the_templates_worker(stack, monkeypatch)

    batch = sqs_batch(stack.bench.endpoint, stack.bench.queue_url())
    [record] = batch["Records"]
    assert handlers.worker(batch, LambdaContext()) == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    run = stack.bench.orchestration.read_flow_run(run_id)
    assert run.state.type is StateType.SCHEDULED  # nothing claimed: the API refused the key
    through_api.worker_services().close()


def test_the_worker_needs_no_right_and_no_package_beyond_the_lambda_package(stack, tmp_path):
    """As on Lambda: a fresh process configured from the template's environment only (no store
    credentials used: the worker never builds one), with every project dependency that the
    package leaves out unimportable, runs the flow through the API."""
    import os
    import re
    import subprocess
    import sys
    import textwrap
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]

    def names(lines) -> set[str]:
        found = set()
        for line in lines:
            line = line.split("#", 1)[0].strip()
            if line:
                found.add(re.split(r"[\s\[<>=!~;]", line, maxsplit=1)[0].lower().replace("-", "_"))
        return found

    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]
    shipped = names((root / "infra" / "lambda" / "requirements.txt").read_text().splitlines())
    blocked = sorted({"pyyaml": "yaml"}.get(name, name) for name in names(project) - shipped)
    assert "uvicorn" in blocked and "httpx" not in blocked

    assert stack.custom_resource("Create")["Status"] == "SUCCESS"
    run_id = fire_one_run(stack.bench)
    batch = sqs_batch(stack.bench.endpoint, stack.bench.queue_url())
    # Every process of the worker (the handler's and the flow's child) starts without them.
    site = tmp_path / "lambda-site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        f"import sys\nfor name in {blocked!r}:\n    sys.modules[name] = None  # importing it raises ImportError\n"
    )
    script = textwrap.dedent(
        """
        import json, sys
        from support.aws_cloud import LambdaContext
        from mintaka_server import handlers

        print("ANSWER " + json.dumps(handlers.worker(json.loads(sys.argv[1]), LambdaContext())))
        """
    )
    settings = stack.bench.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINTAKA_")}
    env.update(
        MINTAKA_HOME=str(tmp_path / "lambda-home"),
        MINTAKA_STORE="dynamodb",
        MINTAKA_TABLE_PREFIX="no-such-table-",  # the worker must not need it
        MINTAKA_AWS_ENDPOINT_URL=settings.aws_endpoint_url,
        MINTAKA_WORK_QUEUES="sqs",
        MINTAKA_QUEUE_PREFIX=settings.queue_prefix,
        MINTAKA_API_URL=stack.api_url,
        MINTAKA_API_KEY_SECRET_ARN=stack.secret_arn,
        PYTHONPATH=os.pathsep.join([str(site), str(root / "tests")]),
    )
    out = subprocess.run(
        [sys.executable, "-c", script, json.dumps(batch)], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    [answer] = [line for line in out.stdout.splitlines() if line.startswith("ANSWER ")]
    assert json.loads(answer.removeprefix("ANSWER ")) == {"batchItemFailures": []}
    assert stack.bench.orchestration.read_flow_run(run_id).state.type is StateType.COMPLETED


GIL_FLOWS = textwrap.dedent(
    """
    import os
    import re
    import threading
    import time
    from pathlib import Path

    from mintaka import flow, task


    @task
    def match(n: int) -> None:
        re.match(r"(a+)+$", "a" * n + "b")  # backtracks for seconds; re never releases the GIL


    @flow
    def gil(n: int, report: str) -> int:
        ticks = [time.monotonic()]
        done = threading.Event()

        def tick():  # how long this process's threads were kept from running
            while not done.wait(0.05):
                ticks.append(time.monotonic())

        threading.Thread(target=tick, daemon=True).start()
        match(n)
        done.set()
        ticks.append(time.monotonic())
        Path(report).write_text(str(max(b - a for a, b in zip(ticks, ticks[1:]))))
        Path(report + ".pid").write_text(str(os.getpid()))
        return 0
    """
)


REAPER = textwrap.dedent(
    """
    import sys, time
    from mintaka_server.composition import get_services

    deployments = get_services().deployments
    print("ready", flush=True)
    while True:
        print(deployments.reap_stale_runs(), flush=True)
        time.sleep(0.5)
    """
)


def test_a_task_holding_the_gil_in_the_lambda_worker_is_never_reaped(stack, monkeypatch, tmp_path):
    """The worker runs the flow in a child process and beats for it: a task freezing the
    flow's process for longer than the lease (3 intervals of 1 s) leaves the run alive, while a
    reaper in a process of its own ticks every 0.5 s on the same table. (Run in the handler's
    process, MINTAKA_WORKER_CHILD_PROCESS=false, the freeze stops this process's moto server
    and API as well, so the reaper cannot even tick: the assertions on its ticks fail.)"""
    import os
    import subprocess
    import sys
    from pathlib import Path

    (stack.bench.project / "gil_flows.py").write_text(GIL_FLOWS)
    report = tmp_path / "gil-held-seconds"
    stack.bench.deploy(
        name="gil",
        flow_name="gil",
        entrypoint="gil_flows.py:gil",
        parameters={"n": 28, "report": str(report)},
    )
    assert stack.custom_resource("Create")["Status"] == "SUCCESS"
    run = stack.bench.deployments.create_deployment_run("gil", "gil", DeploymentRunCreate())
    monkeypatch.setenv("MINTAKA_HEARTBEAT_INTERVAL", "1")
    reaper = subprocess.Popen(
        [sys.executable, "-c", REAPER], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )  # the store's environment is the stack's (fixture)
    try:
        assert reaper.stdout.readline().strip() == "ready"
        as_the_templates_worker(stack, monkeypatch)
        batch = sqs_batch(stack.bench.endpoint, stack.bench.queue_url())
        assert handlers.worker(batch, LambdaContext()) == {"batchItemFailures": []}
    finally:
        reaper.terminate()
        reaped = [int(line) for line in reaper.communicate(timeout=30)[0].split()]
        through_api.worker_services().close()

    held = float(report.read_text())
    assert held > 3 + 1, f"the match held the GIL for only {held:.1f} s: not a test of anything"
    orchestration = stack.bench.orchestration
    done = orchestration.read_flow_run(run.id)
    names = [s.name for s in orchestration.read_flow_run_states(run.id)]
    assert done.state.type is StateType.COMPLETED and "Crashed" not in names, names
    assert len(reaped) > held / 0.5 / 2 and not any(reaped), reaped  # it ticked throughout, reaping nothing
    assert int(Path(f"{report}.pid").read_text()) != os.getpid()  # the flow ran in a child process
