"""Past 15 minutes on Lambda (issue 11 item 3), with the deadline shortened: the worker handler,
called with real SQS batches from moto and a context whose remaining time runs out, stops
starting tasks before the invocation's deadline, hands the run back ("Continuing") and its
message back to the queue, and the next invocation continues it by replay, until the flow
completes with each task body executed once."""

from __future__ import annotations

import json
import textwrap
import time
from dataclasses import dataclass, field

import pytest
from support.aws_cloud import LambdaContext, sqs_batch

from mintaka.deployment_schemas import DeploymentRunCreate
from mintaka.states import StateType
from mintaka_server import handlers

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

BUDGET_SECONDS = 6.0  # each invocation's "15 minutes"
MARGIN_SECONDS = 3.0  # MINTAKA_WORKER_DEADLINE_MARGIN: no task starts in the last 3 s
TASK_SECONDS = 0.3
CALLS, MAPPED = 10, 8  # 18 tasks x 0.3 s = 5.4 s of work: more than one invocation can start

LONG_FLOW = textwrap.dedent(
    f"""
    import time

    from mintaka import flow, task


    def record(log, line):
        with open(log, "a") as f:
            f.write(line + "\\n")


    @task
    def step(i: int, log: str) -> int:
        record(log, f"step {{i}} at {{time.monotonic()}}")
        time.sleep({TASK_SECONDS})
        return i


    @flow
    def long(log: str) -> int:
        record(log, "flow body")
        total = sum(step(i, log) for i in range({CALLS}))
        return total + sum(f.result() for f in step.map(range({CALLS}, {CALLS + MAPPED}), log=log))
    """
)


@dataclass
class ShortContext(LambdaContext):
    """A Lambda context whose remaining time runs out BUDGET_SECONDS after the invocation starts."""

    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(int((BUDGET_SECONDS - (time.monotonic() - self.started)) * 1000), 0)


@pytest.fixture
def margin(monkeypatch):
    from mintaka_server.server_settings import reset_server_settings

    monkeypatch.setenv("MINTAKA_WORKER_DEADLINE_MARGIN", str(MARGIN_SECONDS))
    reset_server_settings()
    yield
    monkeypatch.undo()
    reset_server_settings()


def test_a_flow_longer_than_an_invocation_completes_across_invocations_each_task_once(cloud_bench, tmp_path, margin):
    (cloud_bench.project / "long_flows.py").write_text(LONG_FLOW)
    log = tmp_path / "ran.log"
    cloud_bench.deploy(flow_name="long", entrypoint="long_flows.py:long", parameters={"log": str(log)})
    run = cloud_bench.deployments.create_deployment_run("long", "prod", DeploymentRunCreate())

    invocations, windows, message_ids = 0, [], set()
    sqs = cloud_bench.client("sqs")
    while invocations < 20:
        state = cloud_bench.orchestration.read_flow_run(run.id).state
        if state.is_final():
            break
        batch = sqs_batch(cloud_bench.endpoint, cloud_bench.queue_url())
        if not batch["Records"]:
            continue
        assert [json.loads(r["body"])["flow_run_id"] for r in batch["Records"]] == [str(run.id)]
        context = ShortContext()
        answer = handlers.worker(batch, context)
        windows.append((context.started, time.monotonic()))
        invocations += 1
        done = cloud_bench.orchestration.read_flow_run(run.id).state
        assert answer == {"batchItemFailures": []}  # done with this message either way
        for record in batch["Records"]:  # as Lambda's poller does with the messages that succeeded
            sqs.delete_message(QueueUrl=cloud_bench.queue_url(), ReceiptHandle=record["receiptHandle"])
        if done.type is StateType.SCHEDULED:  # handed back, with a fresh message for the next invocation
            assert done.name == "Continuing" and "deadline passed" in done.message
            assert batch["Records"][0]["messageId"] not in message_ids
        message_ids.add(batch["Records"][0]["messageId"])

    final = cloud_bench.orchestration.read_flow_run(run.id)
    assert final.state.type is StateType.COMPLETED, final.state
    assert invocations >= 2, "the flow fitted in one invocation: the test proves nothing"
    lines = log.read_text().splitlines()
    starts = {int(line.split()[1]): float(line.split()[3]) for line in lines if line.startswith("step")}
    assert sorted(starts) == list(range(CALLS + MAPPED))  # each body once
    assert len([line for line in lines if line.startswith("step")]) == CALLS + MAPPED
    assert lines.count("flow body") == invocations  # the flow function runs from the top each time
    history = [s.name for s in cloud_bench.orchestration.read_flow_run_states(run.id)]
    assert history.count("Continuing") == invocations - 1
    assert history[-1] == "Completed" and final.run_count == invocations
    # Every body started while its invocation had time left (no task starts in the last
    # MARGIN_SECONDS; the margin absorbs the calls between that check and the body).
    for i, at in starts.items():
        [(begun, _)] = [(b, e) for b, e in windows if b <= at <= e]
        assert at - begun < BUDGET_SECONDS, f"step {i} started {at - begun:.2f} s into its invocation"
    print(f"{invocations} invocations: {[round(e - b, 2) for b, e in windows]} s")


def test_a_margin_longer_than_half_the_invocation_leaves_half_of_it(monkeypatch):
    from mintaka_server.handlers import _time_to_work
    from mintaka_server.server_settings import reset_server_settings

    @dataclass
    class Remaining(LambdaContext):
        millis: int = 0

        def get_remaining_time_in_millis(self) -> int:
            return self.millis

    monkeypatch.setenv("MINTAKA_WORKER_DEADLINE_MARGIN", "60")
    reset_server_settings()
    try:
        assert _time_to_work(Remaining(millis=900_000)) == 840  # the default function: 14 minutes of starts
        assert _time_to_work(Remaining(millis=30_000)) == 15  # a 30 s function still starts tasks
    finally:
        monkeypatch.undo()
        reset_server_settings()
