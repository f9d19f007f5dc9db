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
    watched = {(a["Properties"]["Namespace"], a["Properties"]["MetricName"]) for a in alarms}
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
