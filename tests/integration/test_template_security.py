"""template.yaml, offline, read as an AWS architect would: least privilege (the worker running user
flows holds no right on the table; nothing may create queues or mappings at runtime), limits
(reserved concurrency and MaximumConcurrency as parameters), DLQs and retry policies on every
Scheduler and EventBridge target, alarms on throttles, dead letters, queue age and the tick's
duration, and a `sam deploy --guided` that passes with its defaults."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

import pytest

pytest.importorskip("samtranslator.yaml_helper")

# The offline SAM transform and its helpers are test_template's.
from test_template import ROOT, TEMPLATE, _actions, _statements, load_template, resources_of_type, translate


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def translated(template) -> dict[str, Any]:
    return translate(template)


FUNCTIONS = ("ApiFunction", "TriggerFunction", "WorkerFunction", "EventsFunction")


def resources(cfn: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r["Properties"] for name, r in resources_of_type(cfn, kind).items()}


def role_statements(cfn: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return _statements(cfn, role)


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# -- the worker runs user code: no right on the control plane's state ---------------------------


def test_the_worker_role_cannot_touch_the_table(translated):
    statements = role_statements(translated, "WorkerFunctionRole")
    allowed = _actions([s for s in statements if s["Effect"] == "Allow"])
    assert not {a for a in allowed if a.startswith("dynamodb:") or a in {"*", "dynamodb:*"}}
    [deny] = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Action"] == "dynamodb:*"
    assert deny["Resource"] == [{"Fn::GetAtt": ["Table", "Arn"]}, {"Fn::Sub": "${Table.Arn}/*"}]  # and its indexes
    # No managed policy: SAM's AWSLambdaSQSQueueExecutionRole would let flows read and delete the
    # messages of every queue in the account. Queues, logs and results are this stack's only.
    assert translated["Resources"]["WorkerFunctionRole"]["Properties"].get("ManagedPolicyArns", []) == []
    assert translated["Resources"]["WorkerFunction"]["Properties"]["Role"] == {
        "Fn::GetAtt": ["WorkerFunctionRole", "Arn"]
    }
    for statement in statements:
        if any(a.split(":")[0] in {"sqs", "s3", "logs"} for a in listed(statement["Action"])):
            assert statement["Resource"] != "*", statement["Sid"]
    # Nor the control plane's other rights: schedules, keys, other functions.
    assert not {a for a in allowed if a.split(":")[0] in {"scheduler", "lambda", "secretsmanager"}} - {
        "secretsmanager:GetSecretValue"
    }


def test_the_worker_reports_through_the_api_with_the_stacks_write_key(translated):
    from mintaka_server.stack_api_key import KEY_SCOPE

    env = translated["Resources"]["WorkerFunction"]["Properties"]["Environment"]["Variables"]
    assert env["MINTAKA_API_URL"] == translated["Outputs"]["ApiUrl"]["Value"]
    secret = {
        "Fn::If": ["HasWorkerApiKey", {"Ref": "WorkerApiKeySecretArn"}, {"Fn::GetAtt": ["WorkerApiKey", "SecretArn"]}]
    }
    assert env["MINTAKA_API_KEY_SECRET_ARN"] == secret
    assert "MINTAKA_API_KEY" not in env  # never in plain text in the function's configuration
    [read] = [s for s in role_statements(translated, "WorkerFunctionRole") if s.get("Sid") == "ReadItsApiKey"]
    assert (read["Action"], read["Resource"]) == ("secretsmanager:GetSecretValue", secret)

    key = translated["Resources"]["WorkerApiKey"]
    assert key["Type"] == "Custom::MintakaApiKey" and key["Condition"] == "MakesWorkerApiKey"
    props = key["Properties"]
    assert props["ServiceToken"] == {"Fn::GetAtt": ["ApiKeyFunction", "Arn"]}
    assert props["SecretArn"] == {"Ref": "WorkerApiKeySecret"}
    assert props["Scope"] == KEY_SCOPE == "write"  # reports runs; cannot make keys, deployments, settings
    assert props["Rotation"] == {"Ref": "WorkerApiKeyRotation"}
    fargate = translated["Resources"]["FlowTaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    assert fargate["Secrets"] == [{"Name": "MINTAKA_API_KEY", "ValueFrom": secret}]


def test_the_key_function_may_write_api_key_records_and_that_secret_only(translated):
    from mintaka_server.storage.dynamodb import _keys

    props = translated["Resources"]["ApiKeyFunction"]["Properties"]
    assert props["Handler"] == "mintaka_server.stack_api_key.handler"
    statements = role_statements(translated, "ApiKeyFunctionRole")
    writes = [s for s in statements if "dynamodb:PutItem" in listed(s["Action"])]
    [write] = writes
    assert set(write["Action"]) == {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem"}
    [prefix] = write["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    assert _keys.api_key("0123456789ab").startswith(prefix.rstrip("*"))  # the store's key records
    assert write["Resource"] == {"Fn::GetAtt": ["Table", "Arn"]}  # no index
    [put] = [s for s in statements if "secretsmanager:PutSecretValue" in listed(s["Action"])]
    assert put["Resource"] == {"Ref": "WorkerApiKeySecret"}
    assert _actions(statements) <= {
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:GetItem",
        "dynamodb:DescribeTable",
        "secretsmanager:PutSecretValue",
    }


def test_no_role_may_create_queues_mappings_or_grant_wildcards(translated):
    roles = resources_of_type(translated, "AWS::IAM::Role")
    # SAM attaches AWSLambdaSQSQueueExecutionRole (receive and delete on every queue in the
    # account) to a role it makes for a function with SQS events: those functions bring their own.
    for name, role in roles.items():
        assert not any(
            "SQSQueueExecutionRole" in str(arn) for arn in role["Properties"].get("ManagedPolicyArns", [])
        ), name
    granted = set().union(*(_actions([s for s in _statements(translated, r) if s["Effect"] == "Allow"]) for r in roles))
    assert not granted & {
        "sqs:CreateQueue",
        "sqs:SetQueueAttributes",
        "lambda:CreateEventSourceMapping",
        "lambda:UpdateEventSourceMapping",
        "iam:CreateRole",
        "iam:PutRolePolicy",
    }
    assert not {a for a in granted if a == "*" or a.endswith(":*")}


# -- limits ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("function", FUNCTIONS)
def test_reserved_concurrency_is_a_parameter_off_by_default(translated, function):
    prefix = function.removesuffix("Function")
    parameter = f"{prefix}ReservedConcurrency"
    reserved = translated["Resources"][function]["Properties"]["ReservedConcurrentExecutions"]
    assert reserved == {"Fn::If": [f"{prefix}Reserved", {"Ref": parameter}, {"Ref": "AWS::NoValue"}]}
    assert translated["Conditions"][f"{prefix}Reserved"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, -1]}]}
    # -1 = the account's shared pool: a new account (concurrency 10) could not reserve any.
    assert translated["Parameters"][parameter]["Default"] == -1


def test_every_sqs_mapping_has_a_maximum_concurrency_parameter(translated):
    mappings = resources(translated, "AWS::Lambda::EventSourceMapping")
    sqs = {name: m for name, m in mappings.items() if "Queue" in str(m["EventSourceArn"])}
    assert len(sqs) >= 2
    for name, mapping in sqs.items():
        limit = mapping["ScalingConfig"]["MaximumConcurrency"]
        parameter = translated["Parameters"][limit["Ref"]]
        assert (parameter["MinValue"], parameter["MaxValue"]) == (2, 1000), name  # what SQS mappings accept
        assert 2 <= parameter["Default"] <= 1000


# -- retries and dead letters ------------------------------------------------------------------


def test_scheduler_targets_retry_then_park_ticks_in_an_alarmed_dlq(translated):
    schedules = resources(translated, "AWS::Scheduler::Schedule")
    assert schedules
    for name, schedule in schedules.items():
        target = schedule["Target"]
        assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0, name
        assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["SchedulerDLQ", "Arn"]}}, name
    # Scheduler sends to the DLQ with the schedules' role.
    [send] = [s for s in role_statements(translated, "SchedulerRole") if s["Action"] == "sqs:SendMessage"]
    assert send["Resource"] == {"Fn::GetAtt": ["SchedulerDLQ", "Arn"]}
    # The schedules the API creates per deployment get the same DLQ and retry policy.
    env = translated["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"]
    assert env["MINTAKA_SCHEDULER_DLQ_ARN"] == {"Fn::GetAtt": ["SchedulerDLQ", "Arn"]}


def test_eventbridge_rule_targets_retry_then_park_events_in_a_dlq_eventbridge_may_write(translated):
    rules = resources(translated, "AWS::Events::Rule")
    assert rules
    policies = resources(translated, "AWS::SQS::QueuePolicy")
    for name, rule in rules.items():
        for target in rule["Targets"]:
            assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0, name
            dlq = target["DeadLetterConfig"]["Arn"]
            [policy] = [p for p in policies.values() if p["PolicyDocument"]["Statement"][0]["Resource"] == dlq]
            [allow] = policy["PolicyDocument"]["Statement"]
            assert allow["Principal"] == {"Service": "events.amazonaws.com"} and allow["Action"] == "sqs:SendMessage"
            assert "aws:SourceArn" in str(allow["Condition"])  # only this stack's rules


def dead_letter_queues(cfn: dict[str, Any]) -> set[str]:
    """Every queue something parks failures in: redrive targets and DeadLetterConfig ARNs."""
    found = set()
    for queue in resources(cfn, "AWS::SQS::Queue").values():
        if "RedrivePolicy" in queue:
            found.add(queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0])
    for kind in ("AWS::Scheduler::Schedule", "AWS::Events::Rule"):
        for resource in resources(cfn, kind).values():
            for target in listed(resource.get("Target") or resource.get("Targets")):
                if "DeadLetterConfig" in target:
                    found.add(target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0])
    return found


def alarms_on(cfn: dict[str, Any], namespace: str, metric: str) -> dict[str, dict[str, Any]]:
    """Single-metric alarms on `metric`, by the first dimension's value."""
    found = {}
    for alarm in resources(cfn, "AWS::CloudWatch::Alarm").values():
        if alarm.get("Namespace") == namespace and alarm.get("MetricName") == metric:
            found[str(alarm["Dimensions"][0]["Value"])] = alarm
    return found


def fires_on_any(alarm: dict[str, Any]) -> bool:
    return (alarm["ComparisonOperator"], alarm["Threshold"]) in {
        ("GreaterThanThreshold", 0),
        ("GreaterThanOrEqualToThreshold", 1),
    }


# -- alarms ---------------------------------------------------------------------------------------


def consumed_queues(cfn: dict[str, Any]) -> set[str]:
    return {
        m["EventSourceArn"]["Fn::GetAtt"][0]
        for m in resources(cfn, "AWS::Lambda::EventSourceMapping").values()
        if "Fn::GetAtt" in m["EventSourceArn"]
    }


def test_every_dead_letter_queue_raises_an_alarm_on_its_first_message(translated):
    dlqs = dead_letter_queues(translated)
    assert {"DefaultWorkQueueDLQ", "EventsDLQ", "EventsRuleDLQ", "SchedulerDLQ"} <= dlqs
    visible = alarms_on(translated, "AWS/SQS", "ApproximateNumberOfMessagesVisible")
    received = alarms_on(translated, "AWS/SQS", "NumberOfMessagesReceived")
    for dlq in dlqs:
        name = str({"Fn::GetAtt": [dlq, "QueueName"]})
        # A DLQ the worker consumes (it ends those runs CRASHED) is empty at once: count arrivals.
        alarm = received.get(name) if dlq in consumed_queues(translated) else visible.get(name)
        assert alarm is not None, f"no alarm on {dlq}"
        assert fires_on_any(alarm) and alarm["Statistic"] in {"Maximum", "Sum"}, dlq
        assert alarm["TreatMissingData"] == "notBreaching"


def test_queue_age_alarms_on_every_queue_a_function_consumes(translated):
    consumed = consumed_queues(translated) - dead_letter_queues(translated)
    assert {"DefaultWorkQueue", "EventsQueue"} <= consumed
    alarms = alarms_on(translated, "AWS/SQS", "ApproximateAgeOfOldestMessage")
    for queue in consumed:
        alarm = alarms[str({"Fn::GetAtt": [queue, "QueueName"]})]
        assert alarm["Threshold"] == {"Ref": "QueueAgeAlarmSeconds"} and alarm["Statistic"] == "Maximum"


def test_dynamodb_throttles_on_the_table_and_every_index_raise_an_alarm(translated):
    table = translated["Resources"]["Table"]["Properties"]
    indexes = {g["IndexName"] for g in table["GlobalSecondaryIndexes"]}
    watched = set()
    for alarm in resources(translated, "AWS::CloudWatch::Alarm").values():
        for query in alarm.get("Metrics", []):
            stat = query.get("MetricStat")
            if stat and stat["Metric"]["Namespace"] == "AWS/DynamoDB":
                dims = {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]}
                assert dims["TableName"] == {"Ref": "Table"}
                watched.add((stat["Metric"]["MetricName"], dims.get("GlobalSecondaryIndexName")))
        if any(q.get("Expression") for q in alarm.get("Metrics", [])):
            assert fires_on_any(alarm)
    expected = {(m, i) for m in ("ReadThrottleEvents", "WriteThrottleEvents") for i in (None, *indexes)}
    assert expected <= watched


def test_the_ticks_duration_raises_an_alarm_before_its_timeout(translated):
    trigger = translated["Resources"]["TriggerFunction"]["Properties"]
    [alarm] = alarms_on(translated, "AWS/Lambda", "Duration").values()
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "TriggerFunction"}}]
    assert alarm["Statistic"] == "Maximum"
    assert alarm["Threshold"] < trigger["Timeout"] * 1000


# -- a deploy that just works ----------------------------------------------------------------------


def test_sam_deploy_guided_sees_the_api_declares_its_authentication(template):
    """SAM CLI's check (samcli.commands.deploy.auth_utils): a function's HttpApi event has `Auth`,
    or the HttpApi it names has. Without it, `--guided` asks "ApiFunction has no authentication.
    Is this okay? [y/N]" and Enter aborts."""
    resources_ = template["Resources"]
    for name, function in resources_.items():
        for event in function.get("Properties", {}).get("Events", {}).values():
            if event["Type"] not in ("Api", "HttpApi"):
                continue
            api = resources_.get(event["Properties"].get("ApiId", {}).get("Ref", ""), {})
            assert event["Properties"].get("Auth") or api.get("Properties", {}).get("Auth"), name
    auth = resources_["HttpApi"]["Properties"]["Auth"]
    # What it declares is true: no gateway authorizer, so the app's keys are the authentication.
    assert auth == {"EnableIamAuthorizer": False}
    env = resources_["ApiFunction"]["Properties"].get("Environment", {}).get("Variables", {})
    assert str(env.get("MINTAKA_API_AUTH", "true")).lower() != "false"


AUTH_CHECK = """
import json, sys
from samcli.commands.deploy.auth_utils import auth_per_resource
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider

stacks, _ = SamLocalStackProvider.get_stacks(sys.argv[1], parameter_overrides={})
print(json.dumps(auth_per_resource(stacks)))
"""


def sam_cli_python() -> str | None:
    """The interpreter of a pip-installed SAM CLI on PATH (the `sam` script's shebang)."""
    sam = shutil.which("sam")
    if sam is None:
        return None
    with open(sam, "rb") as script:
        first = script.readline()
    if not first.startswith(b"#!"):
        return None  # the native installer's binary
    python = first[2:].decode().split()[0]
    probe = subprocess.run([python, "-c", "import samcli"], capture_output=True, timeout=60)
    return python if probe.returncode == 0 else None


@pytest.mark.slow  # imports the SAM CLI: a few seconds
def test_sam_clis_own_check_finds_every_api_authenticated():
    """The very check `sam deploy --guided` runs before asking "… has no authentication. Is this
    okay? [y/N]", with the SAM CLI on PATH (pip install aws-sam-cli)."""
    python = sam_cli_python()
    if python is None:
        pytest.skip("no pip-installed SAM CLI on PATH")
    out = subprocess.run([python, "-c", AUTH_CHECK, str(TEMPLATE)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found and all(authenticated for _, authenticated in found), found


@pytest.mark.slow  # sam validate --lint: ~10-20 s
def test_sam_validate_lint_passes():
    sam = shutil.which("sam")
    if sam is None:
        pytest.skip("the SAM CLI is not installed (pip install aws-sam-cli)")
    check = subprocess.run(
        [sam, "validate", "--lint", "--region", "us-east-1", "--template-file", str(TEMPLATE)],
        cwd=ROOT,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "is a valid SAM Template" in check.stdout + check.stderr
