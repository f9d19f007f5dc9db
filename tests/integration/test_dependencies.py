"""Fresh code, real dependencies (issue 11 item 4), on moto's S3 and SQS: a Lambda deployment's
requirements are built for the Lambda runtime into a zip on S3 keyed by their hash (reused while
unchanged); the Lambda worker handler runs a flow importing a real third-party package that is
not installed here (`tabulate`) from that zip, and a warm container runs a redeployed helper
module's new code. Nothing of a run's modules or path outlives it. pip downloads the wheel from
the configured index."""

from __future__ import annotations

import importlib.util
import io
import sys
import textwrap
import uuid
import zipfile

import pytest
from support.aws_cloud import LambdaContext, sqs_batch

from mintaka.deployment_schemas import DeploymentRunCreate
from mintaka.exceptions import InvalidRequest
from mintaka.states import StateType
from mintaka_server import handlers

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]

PACKAGE = "tabulate"

FLOWS = textwrap.dedent(
    """
    from helpers import VERSION
    from tabulate import tabulate

    from mintaka import flow, get_run_logger, task


    @task
    def render(rows: list) -> str:
        return tabulate(rows, headers=["key", "value"])


    @flow
    def report() -> str:
        table = render([["version", VERSION]])
        get_run_logger().info("table:\\n%s", table)
        return table
    """
)


@pytest.fixture
def s3(cloud_bench, monkeypatch):
    """A bucket on the bench's endpoint, which the SDK's S3 client uses too (as on Lambda)."""
    from mintaka._aws import reset_clients

    if importlib.util.find_spec(PACKAGE) is not None:
        pytest.skip(f"{PACKAGE} is installed here: the test needs a package only the deployment brings")
    bucket = f"code-{uuid.uuid4().hex[:10]}"
    cloud_bench.client("s3").create_bucket(Bucket=bucket)
    monkeypatch.setenv("AWS_ENDPOINT_URL", cloud_bench.endpoint)
    reset_clients()
    yield bucket
    reset_clients()


def write_project(directory, version: str):
    directory.mkdir(exist_ok=True)
    (directory / "reports.py").write_text(FLOWS)
    (directory / "helpers.py").write_text(f"VERSION = {version!r}\n")
    (directory / "requirements.txt").write_text(f"{PACKAGE}>=0.9\n")
    return directory


def test_requirements_are_built_for_lambda_once_per_content(cloud_bench, s3, tmp_path):
    from mintaka.dependencies import LAMBDA_PLATFORM, build_dependencies

    requirements = write_project(tmp_path / "project", "v1") / "requirements.txt"
    url, built = build_dependencies(requirements, f"s3://{s3}/code")
    assert built and url.startswith(f"s3://{s3}/code/deps/requirements-") and url.endswith(".zip")
    blob = cloud_bench.client("s3").get_object(Bucket=s3, Key=url.removeprefix(f"s3://{s3}/"))["Body"].read()
    names = zipfile.ZipFile(io.BytesIO(blob)).namelist()
    assert f"{PACKAGE}/__init__.py" in names and any(n.endswith(".dist-info/WHEEL") for n in names)

    assert build_dependencies(requirements, f"s3://{s3}/code") == (url, False)  # unchanged: reused
    requirements.write_text(f"# reports\n\n{PACKAGE}>=0.9\n")  # comments and blank lines change nothing
    assert build_dependencies(requirements, f"s3://{s3}/code") == (url, False)
    other, _ = build_dependencies(requirements, f"s3://{s3}/code", platform=LAMBDA_PLATFORM, python="3.12")
    assert other != url  # another runtime: another build


def test_the_lambda_worker_runs_each_deployment_s_own_code_and_dependencies(cloud_bench, s3, tmp_path):
    from mintaka.deployments import DeploySpec, apply
    from mintaka_server.execution.in_process import ServiceClient

    client = ServiceClient(cloud_bench.orchestration, cloud_bench.deployments)
    project = write_project(tmp_path / "project", "v1")
    spec = DeploySpec(
        entrypoint=str(project / "reports.py:report"), name="prod", infrastructure="lambda", storage=f"s3://{s3}/code"
    )
    first = apply(spec, client=client)
    assert first.dependencies and first.dependencies.startswith(f"s3://{s3}/code/deps/")

    def run_once() -> str:
        run = cloud_bench.deployments.create_deployment_run("report", "prod", DeploymentRunCreate())
        batch = sqs_batch(cloud_bench.endpoint, cloud_bench.queue_url())
        assert handlers.worker(batch, LambdaContext()) == {"batchItemFailures": []}
        done = cloud_bench.orchestration.read_flow_run(run.id)
        assert done.state.type is StateType.COMPLETED, done.state
        [table] = [
            log.message for log in cloud_bench.orchestration.read_logs(run.id) if log.message.startswith("table")
        ]
        return table

    assert "version  v1" in run_once()
    assert PACKAGE not in sys.modules and "helpers" not in sys.modules  # nothing of the run is left
    assert importlib.util.find_spec(PACKAGE) is None  # nor its dependencies on the path

    write_project(project, "v2")  # a helper changed; the requirements did not
    second = apply(spec, client=client)
    assert second.storage.url != first.storage.url  # a new code archive
    assert second.dependencies == first.dependencies  # the same dependencies zip, reused
    assert "version  v2" in run_once()  # the warm container runs the new code


def test_requirements_are_refused_where_they_cannot_be_honoured(tmp_path):
    from mintaka.deployments import DeploySpec, build_deployment

    project = write_project(tmp_path / "project", "v1")
    entrypoint = str(project / "reports.py:report")
    with pytest.raises(InvalidRequest, match="--storage s3://"):
        build_deployment(DeploySpec(entrypoint=entrypoint, name="prod", infrastructure="lambda"))
    with pytest.raises(InvalidRequest, match="for Lambda deployments"):
        build_deployment(DeploySpec(entrypoint=entrypoint, name="prod", requirements=str(project / "requirements.txt")))
    with pytest.raises(InvalidRequest, match="no such file"):
        build_deployment(
            DeploySpec(entrypoint=entrypoint, name="prod", infrastructure="lambda", requirements="missing.txt")
        )
