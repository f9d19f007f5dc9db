"""The deployment commands as subprocesses: clear one-line errors, `mintaka.yaml`, the Python
`Flow.deploy` API, work-queue commands, `flow-run execute` edge cases, cancelling a run a worker
is running, and S3 code storage against moto's S3 server over HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import uuid

import pytest
from deploy_support import EXAMPLE, spawn, wait_for  # noqa: F401 - spawn is a fixture

from mintaka.client.embedded import EmbeddedTransport
from mintaka.client.http import HttpTransport
from mintaka.deployment_schemas import DeploymentRunCreate
from mintaka.schemas import FlowRunCreate, SetStateRequest
from mintaka.states import State, StateType

pytestmark = pytest.mark.slow


def ok(result):
    assert result.returncode == 0, f"stdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def store(mintaka_home):
    client = EmbeddedTransport(mintaka_home / "mintaka.db")
    yield client
    client.close()


# -- deploy: errors name the problem and write nothing


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--param", "tims=2"], ["no parameter 'tims'", "takes: name, times"]),
        (["--param", "times=many"], ["times", "valid integer"]),
        (["--param", "times"], ["--param 'times'", "NAME=VALUE"]),
        (["--cron", "0 9 * *"], ["cron", "5 fields"]),
        (["--cron", "0 9 * * *", "--timezone", "Mars/Base"], ["unknown time zone 'Mars/Base'"]),
        (["--cron", "0 9 * * *", "--interval", "60"], ["--cron, --interval are exclusive"]),
        (["--rrule", "FREQ=SOMETIMES"], ["invalid rrule"]),
        (["--infra", "k8s"], ["infrastructure", "'process', 'lambda' or 'fargate'"]),
        (["--storage", "ftp://x"], ["--storage 'ftp://x'"]),
    ],
)
def test_deploy_errors_are_one_line_and_write_nothing(run_cli, args, fragments):
    assert_one_line_error(run_cli("deploy", f"{EXAMPLE}:greet", "--name", "bad", *args), *fragments)
    assert json.loads(ok(run_cli("deployment", "ls", "--json")).stdout) == []


def test_deploy_entrypoint_errors(run_cli, tmp_path):
    assert_one_line_error(run_cli("deploy", f"{EXAMPLE}:nope", "--name", "x"), "has no 'nope'")
    assert_one_line_error(run_cli("deploy", f"{tmp_path}/missing.py:f", "--name", "x"), "no file")
    assert_one_line_error(run_cli("deploy", "no-colon", "--name", "x"), "path/to/file.py:flow_function")
    assert_one_line_error(run_cli("deploy", f"{EXAMPLE}:greet"), "Missing --name")
    broken = tmp_path / "broken.py"
    broken.write_text("import no_such_module_here\n")
    assert_one_line_error(run_cli("deploy", f"{broken}:f", "--name", "x"), "No module named 'no_such_module_here'")
    assert_one_line_error(run_cli("deploy", "--all", "--file", str(tmp_path / "none.yaml")), "none.yaml")


# -- mintaka.yaml and the deployment commands


def test_deploy_all_from_mintaka_yaml_then_ls_inspect_pause_delete(run_cli, tmp_path, store):
    project = tmp_path / "mintaka.yaml"
    project.write_text(
        textwrap.dedent(
            f"""
            deployments:
              - name: morning
                entrypoint: {EXAMPLE}:greet
                parameters: {{name: Ada, times: 2}}
                tags: [daily]
                schedule: {{cron: "0 9 * * *", timezone: Europe/Berlin}}
              - name: weekly
                entrypoint: {EXAMPLE}:nap
                work_queue: slow
                infrastructure: fargate
                schedule: {{rrule: "FREQ=WEEKLY;BYDAY=MO;BYHOUR=6;BYMINUTE=0"}}
            """
        )
    )
    ok(run_cli("deploy", "--all", "--file", str(project)))
    listed = {d["flow_name"] + "/" + d["name"]: d for d in json.loads(ok(run_cli("deployment", "ls", "--json")).stdout)}
    assert set(listed) == {"greet/morning", "nap/weekly"}
    morning = listed["greet/morning"]
    assert morning["schedules"][0]["cron"] == "0 9 * * *" and morning["schedules"][0]["timezone"] == "Europe/Berlin"
    assert (morning["parameters"], morning["tags"]) == ({"name": "Ada", "times": 2}, ["daily"])
    assert morning["parameter_schema"]["properties"]["times"]["type"] == "integer"
    assert (listed["nap/weekly"]["work_queue_name"], listed["nap/weekly"]["infrastructure"]) == ("slow", "fargate")
    assert "slow" in [q.name for q in store.list_work_queues()]  # a deployment's queue exists

    table = ok(run_cli("deployment", "ls")).stdout
    assert "greet/morning" in table and "cron '0 9 * * *' (Europe/Berlin)" in table
    ok(run_cli("deployment", "pause-schedule", "greet/morning"))
    assert store.read_deployment("greet", "morning").schedule_paused is True
    ok(run_cli("deployment", "resume-schedule", "greet/morning"))
    assert store.read_deployment("greet", "morning").schedule_paused is False

    run = json.loads(ok(run_cli("deployment", "run", "greet/morning", "--param", "times=3", "--json")).stdout)
    assert run["parameters"] == {"name": "Ada", "times": 3} and run["state"]["type"] == "SCHEDULED"
    inspected = json.loads(ok(run_cli("deployment", "inspect", "greet/morning", "--json")).stdout)
    assert [r["id"] for r in inspected["runs"]] == [run["id"]]
    assert "Latest runs" in ok(run_cli("deployment", "inspect", "greet/morning")).stdout
    assert_one_line_error(run_cli("deployment", "run", "greet/morning", "--param", "times=[1]"), "times")

    ok(run_cli("deployment", "delete", "greet/morning"))
    assert_one_line_error(run_cli("deployment", "inspect", "greet/morning"), "No deployment greet/morning")
    assert_one_line_error(run_cli("deployment", "run", "greet"), "expected FLOW/DEPLOYMENT")
    bad = tmp_path / "bad.yaml"
    bad.write_text("deployments:\n  - name: x\n    entrypoint: a.py:f\n    colour: blue\n")
    assert_one_line_error(run_cli("deploy", "--all", "--file", str(bad)), "deployment #1 (x)", "colour")


def test_python_api_flow_deploy(tmp_path, mintaka_home, run_cli, store):
    script = tmp_path / "project" / "report.py"
    script.parent.mkdir()
    script.write_text(
        textwrap.dedent(
            """
            from mintaka import flow, get_run_logger

            @flow(name="daily-report")
            def report(day: str, pages: int = 1) -> str:
                get_run_logger().info("report for %s, %d pages", day, pages)
                return day

            if __name__ == "__main__":
                deployment = report.deploy(
                    name="py", parameters={"day": "mon"}, cron="30 6 * * 1-5", timezone="Europe/Berlin", tags=["x"]
                )
                print(deployment.full_name, deployment.entrypoint)
                try:
                    report.deploy(name="bad", parameters={"day": "mon", "pages": "many"})
                except Exception as exc:
                    print("refused:", exc)
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINTAKA_")} | {"MINTAKA_HOME": str(mintaka_home)}
    done = subprocess.run(
        [sys.executable, str(script)], env=env, cwd=script.parent, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "daily-report/py report.py:report" in done.stdout
    assert "refused: Flow 'daily-report' got invalid parameters: pages" in done.stdout
    deployment = store.read_deployment("daily-report", "py")
    assert deployment.storage.url == str(script.parent.resolve())
    assert deployment.schedules[0].cron == "30 6 * * 1-5"
    assert [d.name for d in store.list_deployments()] == ["py"]

    run = store.create_deployment_run("daily-report", "py", DeploymentRunCreate(parameters={"pages": 3}))
    ok(run_cli("flow-run", "execute", str(run.id)))
    finished = store.read_flow_run(run.id)
    assert finished.state.type is StateType.COMPLETED
    assert "report for mon, 3 pages" in [log.message for log in store.read_logs(run.id)]


# -- work queues


def test_work_queue_commands(run_cli, store):
    created = ok(run_cli("work-queue", "create", "gpu", "--concurrency", "3", "--priority", "5", "--tag", "big"))
    assert "concurrency 3" in created.stdout
    ok(run_cli("work-queue", "pause", "gpu"))
    assert store.read_work_queue("gpu").paused is True
    ok(run_cli("work-queue", "resume", "gpu"))
    ok(run_cli("work-queue", "set-concurrency", "gpu", "7"))
    assert store.read_work_queue("gpu").concurrency_limit == 7
    assert store.read_concurrency_limit("work-queue:gpu").limit == 7
    ok(run_cli("work-queue", "set-concurrency", "gpu", "none"))
    queue = store.read_work_queue("gpu")
    assert (queue.concurrency_limit, queue.priority, queue.tags, queue.paused) == (None, 5, ["big"], False)
    listed = json.loads(ok(run_cli("work-queue", "ls", "--json")).stdout)
    assert [q["name"] for q in listed] == ["default", "gpu"]
    assert "gpu" in ok(run_cli("work-queue", "ls")).stdout
    inspected = json.loads(ok(run_cli("work-queue", "inspect", "gpu", "--json")).stdout)
    assert inspected["ready_runs"] == [] and inspected["tags"] == ["big"]
    assert "Runs ready now" in ok(run_cli("work-queue", "inspect", "gpu")).stdout
    assert_one_line_error(run_cli("work-queue", "set-concurrency", "gpu", "lots"), "N: expected a whole number")
    assert_one_line_error(run_cli("work-queue", "set-concurrency", "gpu", "--", "-1"), "N:")
    assert_one_line_error(run_cli("work-queue", "pause", "nope"), "No work queue 'nope'")
    assert_one_line_error(run_cli("work-queue", "create", "x", "--priority", "0"), "--priority")


# -- flow-run execute


def test_execute_claims_a_run_once_and_refuses_what_it_cannot_run(run_cli, store, tmp_path):
    ok(run_cli("deploy", f"{EXAMPLE}:greet", "--name", "once"))
    run = store.create_deployment_run("greet", "once", DeploymentRunCreate(parameters={"name": "Once"}))
    first = ok(run_cli("flow-run", "execute", str(run.id)))
    assert "finished: Completed" in first.stdout
    again = ok(run_cli("flow-run", "execute", str(run.id)))  # someone already ran it: nothing to do
    assert "not claimed" in again.stdout
    assert [s.name for s in store.read_flow_run_states(run.id)].count("Running") == 1

    plain = store.create_flow_run(FlowRunCreate(flow_name="adhoc"))
    assert_one_line_error(run_cli("flow-run", "execute", str(plain.id)), "not created by a deployment")
    assert_one_line_error(run_cli("flow-run", "execute", "nope"), "not a valid flow run id")
    assert_one_line_error(run_cli("flow-run", "execute", str(uuid.uuid4())), "No flow run")

    project = tmp_path / "gone"
    project.mkdir()
    (project / "job.py").write_text("from mintaka import flow\n\n@flow\ndef job():\n    return 1\n")
    ok(run_cli("deploy", f"{project}/job.py:job", "--name", "gone"))
    (project / "job.py").unlink()
    project.rmdir()
    lost = store.create_deployment_run("job", "gone", DeploymentRunCreate())
    failed = run_cli("flow-run", "execute", str(lost.id))
    assert failed.returncode == 1 and "Traceback" not in failed.stdout + failed.stderr
    state = store.read_flow_run(lost.id).state
    assert state.type is StateType.FAILED and "does not exist on this machine" in state.message


# -- cancelling a run a worker runs


def test_cancelling_a_running_run_terminates_its_subprocess(live_server, run_cli, spawn):  # noqa: F811
    url = live_server.url
    ok(run_cli("deploy", f"{EXAMPLE}:nap", "--name", "long", "--queue", "long", "--param", "seconds=120", api_url=url))
    client = HttpTransport(url)
    run = client.create_deployment_run("nap", "long", DeploymentRunCreate())
    worker = spawn(
        "worker", "start", "--queue", "long", "--heartbeat-interval", "0.5", "--poll-interval", "0.3", api_url=url
    )
    wait_for(lambda: client.read_flow_run(run.id).state.type is StateType.RUNNING, 60, what=worker.output)
    answer = client.set_flow_run_state(
        run.id, SetStateRequest(state=State(type=StateType.CANCELLING, message="Not needed today"))
    )
    assert answer.status == "ACCEPT"
    wait_for(lambda: "exited with code" in worker.output(), 30, what=worker.output)
    final = client.read_flow_run(run.id)
    assert (final.state.type, final.state.message) == (StateType.CANCELLED, "Not needed today")
    assert "was cancelled" in worker.output()
    # The subprocess stopped the flow itself (asked with SIGUSR1), well before the grace ran out.
    assert "exited with code 1" in worker.output()
    assert worker.process.poll() is None  # the worker carries on


# -- S3 code storage (moto's S3 server over HTTP)


@pytest.fixture
def s3_endpoint(monkeypatch):
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for key, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    yield endpoint
    server.stop()


def test_s3_storage_packages_uploads_and_runs_from_the_archive(s3_endpoint, tmp_path, run_cli, store):
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket="code")
    project = tmp_path / "project"
    project.mkdir()
    (project / "helpers.py").write_text("def double(x):\n    return 2 * x\n")
    (project / "job.py").write_text(
        "from helpers import double\nfrom mintaka import flow, get_run_logger\n\n"
        "@flow\ndef job(x: int = 1):\n    get_run_logger().info('doubled: %d', double(x))\n"
    )
    deployed = ok(run_cli("deploy", f"{project}/job.py:job", "--name", "s3", "--storage", "s3://code/projects"))
    archive_url = store.read_deployment("job", "s3").storage.url
    assert archive_url.startswith("s3://code/projects/job-s3-") and archive_url.endswith(".zip")
    assert "Uploading" in deployed.stderr  # the progress bar
    key = archive_url.removeprefix("s3://code/")
    assert s3.head_object(Bucket="code", Key=key)["ContentLength"] > 0
    again = ok(run_cli("deploy", f"{project}/job.py:job", "--name", "s3", "--storage", "s3://code/projects"))
    assert store.read_deployment("job", "s3").storage.url == archive_url, again.stdout  # same code, same archive

    for path in project.iterdir():  # the run must get its code from S3
        path.unlink()
    run = store.create_deployment_run("job", "s3", DeploymentRunCreate(parameters={"x": 21}))
    ok(run_cli("worker", "start", "--run-once"))
    assert store.read_flow_run(run.id).state.type is StateType.COMPLETED
    assert "doubled: 42" in [log.message for log in store.read_logs(run.id)]

    missing = run_cli("deploy", f"{EXAMPLE}:greet", "--name", "x", "--storage", "s3://no-such-bucket/p")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    last = missing.stderr.strip().splitlines()[-1]  # after the progress bar
    assert last.startswith("Error: Cannot upload the code to s3://no-such-bucket/p/") and "NoSuchBucket" in last
