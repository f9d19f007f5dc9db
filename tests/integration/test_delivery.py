"""Delivery you can trust (issue 11 item 5), on the cloud path (moto's SQS, S3 and the Lambda
worker handler called with real SQS batches) and on the local worker (real subprocesses):
a duplicate delivery runs the flow's body once; a run whose message is dead-lettered, or that
the local worker fails to start too often, ends CRASHED with the reason instead of staying
SCHEDULED; MINTAKA_RESULTS_BUCKET puts deployed runs' results on S3."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from support.aws_cloud import LambdaContext, sqs_batch

from mintaka.deployment_schemas import DeploymentRunCreate
from mintaka.states import StateType
from mintaka_server import handlers

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

COUNTED = textwrap.dedent(
    """
    from mintaka import flow, task


    def record(log, line):
        with open(log, "a") as f:
            f.write(line + "\\n")


    @task
    def step(log: str) -> int:
        record(log, "task")
        return 42


    @flow
    def counted(log: str) -> int:
        record(log, "flow")
        return step(log)
    """
)


def deploy_counted(bench, log: Path, **fields):
    (bench.project / "counted.py").write_text(COUNTED)
    return bench.deploy(flow_name="counted", entrypoint="counted.py:counted", parameters={"log": str(log)}, **fields)


def test_a_duplicate_delivery_to_the_lambda_worker_runs_the_body_once(cloud_bench, tmp_path):
    log = tmp_path / "ran.log"
    deploy_counted(cloud_bench, log)
    run = cloud_bench.deployments.create_deployment_run("counted", "prod", DeploymentRunCreate())
    batch = sqs_batch(cloud_bench.endpoint, cloud_bench.queue_url())
    [record] = batch["Records"]
    sqs = cloud_bench.client("sqs")
    sqs.send_message(QueueUrl=cloud_bench.queue_url(), MessageBody=record["body"])  # SQS delivers it again

    assert handlers.worker(batch, LambdaContext()) == {"batchItemFailures": []}
    assert handlers.worker(batch, LambdaContext()) == {"batchItemFailures": []}  # the very same record again
    duplicate = sqs_batch(cloud_bench.endpoint, cloud_bench.queue_url())
    assert [r["body"] for r in duplicate["Records"]] == [record["body"]]
    assert handlers.worker(duplicate, LambdaContext()) == {"batchItemFailures": []}

    assert log.read_text().splitlines() == ["flow", "task"]
    done = cloud_bench.orchestration.read_flow_run(run.id)
    assert done.state.type is StateType.COMPLETED and done.run_count == 1


def test_a_dead_lettered_run_ends_crashed_with_the_reason(cloud_bench, tmp_path):
    from mintaka.deployment_schemas import WorkQueueCreate
    from mintaka_server.queues.sqs_provisioning import provision_work_queue

    fragile = cloud_bench.settings.model_copy(update={"queue_max_receive_count": 1})
    provision_work_queue("fragile", fragile)
    cloud_bench.deployments.create_work_queue(WorkQueueCreate(name="fragile"))
    log = tmp_path / "ran.log"
    deploy_counted(cloud_bench, log, work_queue_name="fragile")
    run = cloud_bench.deployments.create_deployment_run("counted", "prod", DeploymentRunCreate())
    sqs = cloud_bench.client("sqs")
    url = cloud_bench.queue_url("fragile")
    # Delivered once and never acked (its worker died, say): SQS moves it to the DLQ.
    assert len(sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"]) == 1
    assert sqs.receive_message(QueueUrl=url, VisibilityTimeout=0).get("Messages", []) == []
    assert cloud_bench.orchestration.read_flow_run(run.id).state.type is StateType.SCHEDULED

    dead = sqs_batch(cloud_bench.endpoint, cloud_bench.cloud.queues.dead_letter_url("fragile"))
    assert len(dead["Records"]) == 1
    assert handlers.worker(dead, LambdaContext()) == {"batchItemFailures": []}

    crashed = cloud_bench.orchestration.read_flow_run(run.id).state
    assert crashed.type is StateType.CRASHED
    assert "dead-lettered" in crashed.message and "never started" in crashed.message
    assert not log.exists()  # nothing ran
    assert handlers.worker(dead, LambdaContext()) == {"batchItemFailures": []}  # a repeat changes nothing
    assert cloud_bench.orchestration.read_flow_run(run.id).state.id == crashed.id


def test_a_dead_lettered_message_of_a_run_that_started_leaves_it_to_its_executor(cloud_bench, tmp_path):
    from mintaka.schemas import SetStateRequest
    from mintaka.states import State

    deploy_counted(cloud_bench, tmp_path / "ran.log")
    run = cloud_bench.deployments.create_deployment_run("counted", "prod", DeploymentRunCreate())
    for state in (StateType.PENDING, StateType.RUNNING):
        cloud_bench.orchestration.set_flow_run_state(run.id, SetStateRequest(state=State(type=state)))
    sqs = cloud_bench.client("sqs")
    dlq = cloud_bench.cloud.queues.dead_letter_url("default")
    [record] = sqs_batch(cloud_bench.endpoint, cloud_bench.queue_url())["Records"]
    sqs.send_message(QueueUrl=dlq, MessageBody=record["body"])
    assert handlers.worker(sqs_batch(cloud_bench.endpoint, dlq), LambdaContext()) == {"batchItemFailures": []}
    assert cloud_bench.orchestration.read_flow_run(run.id).state.type is StateType.RUNNING


def test_the_results_bucket_setting_puts_deployed_results_on_s3(cloud_bench, tmp_path, monkeypatch):
    import uuid

    from mintaka._aws import reset_clients
    from mintaka.results import read_result, result_store
    from mintaka_server.composition import build, set_services

    bucket = f"results-{uuid.uuid4().hex[:10]}"
    cloud_bench.client("s3").create_bucket(Bucket=bucket)
    monkeypatch.setenv("AWS_ENDPOINT_URL", cloud_bench.endpoint)  # the SDK's S3 client, as on Lambda
    reset_clients()
    cloud = build(cloud_bench.settings.model_copy(update={"results_bucket": bucket}), cloud_bench.cloud.store)
    previous = set_services(cloud)
    try:
        assert cloud.orchestration.read_result_storage().url == f"s3://{bucket}/results"
        log = tmp_path / "ran.log"
        deploy_counted(cloud_bench, log)
        run = cloud.deployments.create_deployment_run("counted", "prod", DeploymentRunCreate())
        batch = sqs_batch(cloud_bench.endpoint, cloud_bench.queue_url())
        assert handlers.worker(batch, LambdaContext()) == {"batchItemFailures": []}
        [task_run] = cloud.orchestration.read_flow_run_detail(run.id).task_runs
        ref = task_run.state.data
        assert ref is not None and ref.storage == f"s3://{bucket}/results"
        keys = [o["Key"] for o in cloud_bench.client("s3").list_objects_v2(Bucket=bucket)["Contents"]]
        assert f"results/{ref.key}" in keys
        assert read_result(ref, store=result_store(ref.storage)) == 42
    finally:
        set_services(previous)
        reset_clients()


def test_the_local_worker_ends_a_run_it_keeps_failing_to_start_crashed(tmp_path, monkeypatch):
    """Each delivery's subprocess dies before claiming the run (a broken environment): after
    `max_deliveries` the run ends CRASHED with the reason, and is not handed out again."""
    from mintaka.deployments import DeploySpec, apply
    from mintaka.testing import harness
    from mintaka.worker import Worker

    project = tmp_path / "project"
    project.mkdir()
    (project / "counted.py").write_text(COUNTED)
    log = tmp_path / "ran.log"
    with harness(tmp_path / "home") as client:
        apply(DeploySpec(entrypoint=f"{project}/counted.py:counted", name="prod", parameters={"log": str(log)}))
        run = client.create_deployment_run("counted", "prod", DeploymentRunCreate())
        broken = [sys.executable, "-c", "import sys; sys.exit(3)"]
        worker = Worker(client, "default", poll_interval=0.05, say=lambda _: None, command=broken, max_deliveries=3)
        for _ in range(3):
            worker.run(run_once=True)
        crashed = client.read_flow_run(run.id).state
        assert crashed.type is StateType.CRASHED
        assert "failed 3 times without starting the run (last exit code 3)" in crashed.message
        worker.run(run_once=True)
        assert worker.children == {} and client.get_work_queue_runs("default") == []
        assert not log.exists()


def test_a_duplicate_delivery_to_the_local_worker_runs_the_body_once(tmp_path):
    from mintaka.deployments import DeploySpec, apply
    from mintaka.testing import harness
    from mintaka.worker import Worker

    project = tmp_path / "project"
    project.mkdir()
    (project / "counted.py").write_text(COUNTED)
    log = tmp_path / "ran.log"
    with harness(tmp_path / "home") as client:
        apply(DeploySpec(entrypoint=f"{project}/counted.py:counted", name="prod", parameters={"log": str(log)}))
        run = client.create_deployment_run("counted", "prod", DeploymentRunCreate())
        worker = Worker(client, "default", say=lambda _: None)
        worker.submit(run)
        duplicate = Worker(client, "default", say=lambda _: None)  # another worker got the same run
        duplicate.submit(run)
        for each in (worker, duplicate):
            for child in list(each.children.values()):
                child.process.wait(timeout=120)
            each.reap()
        assert log.read_text().splitlines() == ["flow", "task"]
        assert client.read_flow_run(run.id).state.type is StateType.COMPLETED
        assert sorted([*worker.finished.values(), *duplicate.finished.values()]) == [0, 0]
