"""template.yaml, offline: cfn-lint passes, and the SAM transform (aws-sam-translator, no AWS
calls) yields the resources the code relies on. The table's keys, index names and TTL attribute
are a contract with the DynamoDB store adapter; the handler path with handlers.py."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

yaml_helper = pytest.importorskip("samtranslator.yaml_helper")


def load_template() -> dict[str, Any]:
    return yaml_helper.yaml_parse(TEMPLATE.read_text())


class NoManagedPolicies:
    """The translator asks IAM for managed policy names only when a template uses them by name."""

    def load(self) -> dict[str, str]:
        return {}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def translated(template) -> dict[str, Any]:
    return translate(template)


def translate(template: dict[str, Any]) -> dict[str, Any]:
    """The CloudFormation SAM would deploy (code locations replaced as `sam package` does)."""
    from samtranslator.translator.transform import transform

    sam = copy.deepcopy(template)
    for resource in sam["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://mintaka-artifacts/package.zip"
    mp = pytest.MonkeyPatch()
    mp.setenv("AWS_DEFAULT_REGION", "us-east-1")  # pseudo-parameters; nothing is called
    try:
        return transform(sam, {}, NoManagedPolicies())
    finally:
        mp.undo()


def resources_of_type(cfn: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in cfn["Resources"].items() if r["Type"] == kind}


@pytest.mark.slow  # cfn-lint: 10 s
def test_cfn_lint_passes():
    """`cfn-lint template.yaml`: errors, warnings and informational findings alike."""
    api = pytest.importorskip("cfnlint.api")
    findings = api.lint_file(TEMPLATE)
    assert [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in findings] == []


def test_api_function_runs_the_handler_on_arm64(translated):
    function = translated["Resources"]["ApiFunction"]
    assert function["Type"] == "AWS::Lambda::Function"
    props = function["Properties"]
    assert props["Handler"] == "mintaka_server.handlers.api"
    assert re.fullmatch(r"python3\.1[3-9]", props["Runtime"])
    assert props["Architectures"] == ["arm64"]
    env = props["Environment"]["Variables"]
    assert env["MINTAKA_STORE"] == "dynamodb"
    assert env["MINTAKA_TABLE_PREFIX"] == {"Ref": "TablePrefix"}
    assert env["MINTAKA_RESULTS_BUCKET"] == {"Ref": "ResultsBucket"}
    assert env["POWERTOOLS_SERVICE_NAME"] not in {"mintaka", "mintaka_server"}  # a Python logger's name
    assert props["LoggingConfig"] == {"LogGroup": {"Ref": "ApiFunctionLogs"}}


def test_handler_path_and_runtime_match_the_code(translated):
    """The handler imports, and the package is built for the runtime the template names."""
    import importlib
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_package", ROOT / "infra" / "lambda" / "build_package.py")
    build_package = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_package)
    module_name, _, attribute = translated["Resources"]["ApiFunction"]["Properties"]["Handler"].rpartition(".")
    assert callable(getattr(importlib.import_module(module_name), attribute))
    assert translated["Resources"]["ApiFunction"]["Properties"]["Runtime"] == f"python{build_package.LAMBDA_PYTHON}"


def test_function_may_read_and_write_the_table_and_its_indexes(translated):
    role = translated["Resources"]["ApiFunctionRole"]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    actions = {a for s in statements for a in s["Action"]}
    # TransactWriteItems is authorised per item action: Put/Update/Delete/ConditionCheck.
    assert {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"} <= actions
    assert {"dynamodb:DeleteItem", "dynamodb:ConditionCheckItem", "dynamodb:BatchWriteItem"} <= actions
    resources = str([s["Resource"] for s in statements])
    assert "table/${tableName}/index/*" in resources and "'Ref': 'Table'" in resources


def test_http_api_sends_every_route_to_the_function(translated):
    apis = resources_of_type(translated, "AWS::ApiGatewayV2::Api")
    assert list(apis) == ["HttpApi"]
    route = apis["HttpApi"]["Properties"]["Body"]["paths"]["$default"]["x-amazon-apigateway-any-method"]
    integration = route["x-amazon-apigateway-integration"]
    assert integration["type"] == "aws_proxy"
    assert integration["payloadFormatVersion"] == "2.0"
    assert "${ApiFunction.Arn}" in integration["uri"]["Fn::Sub"]
    stage = resources_of_type(translated, "AWS::ApiGatewayV2::Stage")
    assert [s["Properties"]["StageName"] for s in stage.values()] == ["$default"]  # rawPath = /api/...
    assert all("AccessLogSettings" in s["Properties"] for s in stage.values())


def test_table_keys_indexes_and_ttl_match_the_dynamodb_adapter(translated):
    table = translated["Resources"]["Table"]
    assert table["DeletionPolicy"] == "Retain"
    props = table["Properties"]
    assert props["TableName"] == {"Fn::Sub": "${TablePrefix}mintaka"}  # ServerSettings.table_name
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    indexes = {gsi["IndexName"]: gsi for gsi in props["GlobalSecondaryIndexes"]}
    assert sorted(indexes) == ["gsi1", "gsi2", "gsi3"]
    for name, gsi in indexes.items():
        assert gsi["KeySchema"] == [
            {"AttributeName": f"{name}pk", "KeyType": "HASH"},
            {"AttributeName": f"{name}sk", "KeyType": "RANGE"},
        ]
        assert gsi["Projection"] == {"ProjectionType": "ALL"}
    defined = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert defined == {name: "S" for name in ("pk", "sk", *(f"gsi{i}{k}" for i in (1, 2, 3) for k in ("pk", "sk")))}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}


def test_results_bucket_is_private_versioned_and_encrypted(translated):
    bucket = translated["Resources"]["ResultsBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    policy = translated["Resources"]["ResultsBucketPolicy"]["Properties"]["PolicyDocument"]
    assert any(s["Effect"] == "Deny" and "aws:SecureTransport" in str(s["Condition"]) for s in policy["Statement"])


def test_alarms_watch_api_5xx_and_function_errors(translated):
    alarms = resources_of_type(translated, "AWS::CloudWatch::Alarm").values()
    watched = {
        (a["Properties"]["Namespace"], a["Properties"]["MetricName"])
        for a in alarms
        if "Metrics" not in a["Properties"]
    }
    assert {("AWS/ApiGateway", "5xx"), ("AWS/Lambda", "Errors")} <= watched


def test_outputs(translated):
    outputs = translated["Outputs"]
    assert outputs["ApiUrl"]["Value"] == {
        "Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/api"
    }
    assert outputs["TableName"]["Value"] == {"Ref": "Table"}
    assert outputs["ResultsBucket"]["Value"] == {"Ref": "ResultsBucket"}


def test_every_makefile_built_function_has_a_make_target(template):
    """`sam build` runs `make build-<LogicalId>` with the Makefile in ContextPath."""
    built = {
        name: r["Metadata"]
        for name, r in template["Resources"].items()
        if r["Type"] == "AWS::Serverless::Function" and r.get("Metadata", {}).get("BuildMethod") == "makefile"
    }
    assert "ApiFunction" in built
    for name, metadata in built.items():
        makefile = ROOT / metadata["ContextPath"] / "Makefile"
        assert re.search(rf"^build-{name}:", makefile.read_text(), re.MULTILINE), f"{makefile} lacks build-{name}"
        assert (ROOT / metadata["ProjectRootDirectory"] / "pyproject.toml").exists()


def test_table_matches_the_dynamodb_adapters_model(translated):
    """The adapter's pynamodb model (what `create_table` makes in tests) and the template's table
    are one schema: same keys, attribute types, indexes and TTL attribute."""
    models = pytest.importorskip("mintaka_server.storage.dynamodb._models")
    model = models.build_item_model("mintaka", None, "us-east-1")
    schema = model._get_schema()
    props = translated["Resources"]["Table"]["Properties"]

    def keys(key_schema: list[dict[str, str]]) -> list[tuple[str, str]]:
        return [(k["AttributeName"], k["KeyType"]) for k in key_schema]

    assert keys(props["KeySchema"]) == keys(schema["key_schema"])
    definitions = {(a["AttributeName"], a["AttributeType"]) for a in props["AttributeDefinitions"]}
    assert definitions == {(a["AttributeName"], a["AttributeType"]) for a in schema["attribute_definitions"]}
    template_indexes = {
        g["IndexName"]: (keys(g["KeySchema"]), g["Projection"]) for g in props["GlobalSecondaryIndexes"]
    }
    model_indexes = {
        g["index_name"]: (keys(g["key_schema"]), g["projection"]) for g in schema["global_secondary_indexes"]
    }
    assert template_indexes == model_indexes
    ttl = [name for name, attribute in model.get_attributes().items() if type(attribute).__name__ == "TTLAttribute"]
    assert ttl == [props["TimeToLiveSpecification"]["AttributeName"]]


# -- issue 4: schedules, work queues, workers, Fargate ---------------------------------------------


def _statements(translated: dict[str, Any], role: str) -> list[dict[str, Any]]:
    props = translated["Resources"][role]["Properties"]
    statements = [s for p in props.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
    return [s for s in statements if isinstance(s, dict) and "Fn::If" not in s] + [
        s["Fn::If"][1] for s in statements if isinstance(s, dict) and "Fn::If" in s
    ]


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    return {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}


@pytest.mark.parametrize(
    ("function", "handler"),
    [
        ("TriggerFunction", "mintaka_server.handlers.trigger"),
        ("WorkerFunction", "mintaka_server.handlers.worker"),
        ("EventsFunction", "mintaka_server.handlers.events"),
        ("ApiKeyFunction", "mintaka_server.stack_api_key.handler"),
    ],
)
def test_cloud_functions_run_their_handlers(translated, function, handler):
    import importlib

    props = translated["Resources"][function]["Properties"]
    assert props["Handler"] == handler
    module_name, _, attribute = handler.rpartition(".")
    assert callable(getattr(importlib.import_module(module_name), attribute))
    env = props["Environment"]["Variables"]
    assert env["MINTAKA_WORK_QUEUES"] == "sqs"
    assert env["MINTAKA_QUEUE_PREFIX"] == {"Fn::Sub": "${TablePrefix}mintaka-"}
    assert env["MINTAKA_STORE"] == "dynamodb"
    table_access = {"dynamodb:GetItem", "dynamodb:PutItem"} <= _actions(_statements(translated, f"{function}Role"))
    assert table_access is (function != "WorkerFunction")  # the worker reports through the API


def test_worker_consumes_the_default_work_queue_with_partial_batch_failures(translated):
    mappings = resources_of_type(translated, "AWS::Lambda::EventSourceMapping")
    worker, dead_letters = sorted(
        (m["Properties"] for m in mappings.values() if m["Properties"]["FunctionName"] == {"Ref": "WorkerFunction"}),
        key=lambda m: str(m["EventSourceArn"]),
    )
    assert worker["EventSourceArn"] == {"Fn::GetAtt": ["DefaultWorkQueue", "Arn"]}
    assert dead_letters["EventSourceArn"] == {"Fn::GetAtt": ["DefaultWorkQueueDLQ", "Arn"]}
    assert worker["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert worker["BatchSize"] == {"Ref": "WorkerBatchSize"}
    props = translated["Resources"]["WorkerFunction"]["Properties"]
    assert props["Timeout"] == {"Ref": "WorkerTimeout"}
    assert translated["Parameters"]["WorkerTimeout"]["MaxValue"] == 900
    env = props["Environment"]["Variables"]
    assert env["MINTAKA_ECS_CLUSTER"] == {"Fn::If": ["FargateEnabled", {"Ref": "FlowCluster"}, {"Ref": "AWS::NoValue"}]}
    assert env["MINTAKA_ECS_SUBNETS"] == {"Fn::Join": [",", {"Ref": "FargateSubnetIds"}]}
    actions = _actions(_statements(translated, "WorkerFunctionRole"))
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"} <= actions
    assert {"ecs:RunTask", "ecs:TagResource", "ecs:StopTask", "iam:PassRole"} <= actions


def test_work_queue_has_a_dead_letter_queue_and_outlasts_the_worker(translated, template):
    from mintaka_server.server_settings import ServerSettings

    queue = translated["Resources"]["DefaultWorkQueue"]["Properties"]
    assert queue["QueueName"] == {"Fn::Sub": "${TablePrefix}mintaka-default"}  # prefix + "default"
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["DefaultWorkQueueDLQ", "Arn"]}
    assert queue["VisibilityTimeout"] >= 6 * translated["Parameters"]["WorkerTimeout"]["MaxValue"]
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert int(env["MINTAKA_QUEUE_VISIBILITY_TIMEOUT"]) == queue["VisibilityTimeout"]
    assert int(env["MINTAKA_QUEUE_MAX_RECEIVE_COUNT"]) == queue["RedrivePolicy"]["maxReceiveCount"]
    assert ServerSettings.model_fields["queue_prefix"].default == "mintaka-"  # TablePrefix "" gives the same
    dlq = translated["Resources"]["DefaultWorkQueueDLQ"]["Properties"]
    assert dlq["QueueName"] == {"Fn::Sub": "${TablePrefix}mintaka-default-dlq"}
    assert dlq["MessageRetentionPeriod"] == 1209600


def test_scheduler_group_role_and_rrule_tick(translated):
    resources = translated["Resources"]
    assert resources["ScheduleGroup"]["Type"] == "AWS::Scheduler::ScheduleGroup"
    role = resources["SchedulerRole"]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "scheduler.amazonaws.com"}
    [invoke] = [s for s in role["Policies"][0]["PolicyDocument"]["Statement"] if s["Action"] == "lambda:InvokeFunction"]
    assert invoke["Action"] == "lambda:InvokeFunction"
    assert {"Fn::GetAtt": ["TriggerFunction", "Arn"]} in invoke["Resource"]
    tick = resources["RRuleTickSchedule"]["Properties"]
    assert tick["ScheduleExpression"] == "rate(1 minute)"
    assert tick["GroupName"] == {"Ref": "ScheduleGroup"}
    assert tick["Target"]["Arn"] == {"Fn::GetAtt": ["TriggerFunction", "Arn"]}
    assert tick["Target"]["RoleArn"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}
    import json

    from mintaka_server._lambda_events import parse_trigger_event

    payload = json.loads(tick["Target"]["Input"].replace("<aws.scheduler.scheduled-time>", "2024-05-01T09:00:00Z"))
    assert parse_trigger_event(payload).rrule_tick


def test_api_function_may_sync_schedules_and_send_runs(translated):
    env = translated["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"]
    assert env["MINTAKA_SCHEDULE_GROUP"] == {"Ref": "ScheduleGroup"}
    assert env["MINTAKA_TRIGGER_FUNCTION_ARN"] == {"Fn::GetAtt": ["TriggerFunction", "Arn"]}
    assert env["MINTAKA_SCHEDULER_ROLE_ARN"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}
    statements = _statements(translated, "ApiFunctionRole")
    actions = _actions(statements)
    assert {"scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule"} <= actions
    assert {"scheduler:GetSchedule", "scheduler:ListSchedules", "iam:PassRole", "sqs:SendMessage"} <= actions
    [sync] = [s for s in statements if "scheduler:CreateSchedule" in s["Action"]]
    assert "schedule/${ScheduleGroup}/*" in sync["Resource"]["Fn::Sub"]


def test_no_function_may_create_queues_or_mappings_at_runtime(translated):
    """Queues are provisioned (the template, `mintaka work-queue create`), never by a request."""
    roles = [name for name, r in translated["Resources"].items() if r["Type"] == "AWS::IAM::Role"]
    granted = set().union(*(_actions(_statements(translated, role)) for role in roles if role.endswith("FunctionRole")))
    assert "sqs:SendMessage" in granted
    assert not granted & {"sqs:CreateQueue", "sqs:SetQueueAttributes", "lambda:CreateEventSourceMapping"}
    outputs = translated["Outputs"]  # what `mintaka work-queue create` needs to provision one
    assert outputs["WorkQueuePrefix"]["Value"] == {"Fn::Sub": "${TablePrefix}mintaka-"}
    assert outputs["WorkerFunctionArn"]["Value"] == {"Fn::GetAtt": ["WorkerFunction", "Arn"]}


def test_fargate_task_definition_runs_the_flow_container(translated):
    resources = translated["Resources"]
    task = resources["FlowTaskDefinition"]
    assert task["Condition"] == "FargateEnabled"
    props = task["Properties"]
    assert props["RequiresCompatibilities"] == ["FARGATE"] and props["NetworkMode"] == "awsvpc"
    [container] = props["ContainerDefinitions"]
    assert container["Name"] == "mintaka"  # ServerSettings.ecs_container_name's default
    assert container["Image"] == {"Ref": "FlowImageUri"}
    assert container["Memory"] == {"Ref": "FargateMemory"}  # set on the container, as moto and ECS like
    environment = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert "execute-api" in environment["MINTAKA_API_URL"]["Fn::Sub"]
    assert props["TaskRoleArn"] == {"Fn::GetAtt": ["FlowTaskRole", "Arn"]}
    assert props["ExecutionRoleArn"] == {"Fn::GetAtt": ["FlowTaskExecutionRole", "Arn"]}
    assert resources["FlowCluster"]["Type"] == "AWS::ECS::Cluster"


def test_events_function_takes_eventbridge_rules_and_its_queue(translated):
    rules = resources_of_type(translated, "AWS::Events::Rule")
    [rule] = [r["Properties"] for r in rules.values() if "EventsFunction" in str(r["Properties"]["Targets"])]
    assert rule["EventPattern"] == {"source": {"Ref": "EventSources"}}
    mappings = resources_of_type(translated, "AWS::Lambda::EventSourceMapping")
    [queue] = [
        m["Properties"] for m in mappings.values() if m["Properties"]["FunctionName"] == {"Ref": "EventsFunction"}
    ]
    assert queue["EventSourceArn"] == {"Fn::GetAtt": ["EventsQueue", "Arn"]}
    assert queue["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_dead_letters_and_worker_errors_raise_alarms(translated):
    alarms = [a["Properties"] for a in resources_of_type(translated, "AWS::CloudWatch::Alarm").values()]
    watched = {
        (a["Namespace"], a["MetricName"], str(a["Dimensions"][0]["Value"])) for a in alarms if "Metrics" not in a
    }
    assert (
        "AWS/SQS",
        "NumberOfMessagesReceived",  # the worker consumes the DLQ: its runs end CRASHED
        str({"Fn::GetAtt": ["DefaultWorkQueueDLQ", "QueueName"]}),
    ) in watched
    assert ("AWS/Lambda", "Errors", str({"Ref": "WorkerFunction"})) in watched
