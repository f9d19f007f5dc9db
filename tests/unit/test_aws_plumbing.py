"""`mintaka._aws`: one client per service and AWS configuration on one botocore session, and
the declarative error maps every AWS adapter translates its errors with."""

from __future__ import annotations

import pytest

pytest.importorskip("boto3")

from botocore.exceptions import ClientError, EndpointConnectionError

from mintaka import _aws
from mintaka.exceptions import Conflict, InvalidRequest, MintakaError, ObjectNotFound

ENDPOINT = "http://127.0.0.1:1"


class Unavailable(MintakaError):
    pass


MAP = _aws.ErrorMap(
    "Widgets",
    {
        "NotThere": (ObjectNotFound, "No widget {name!r}: {message}"),
        "Busy": (None, ""),
    },
    default=(Unavailable, "Widgets: {code}: {message}"),
    unreachable=(Unavailable, "Widgets could not be reached: {message}"),
)


def client_error(code: str, message: str = "the service said so") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "GetWidget")


def test_a_mapped_code_becomes_its_class_with_the_template_filled_from_the_call():
    def get_widget(name: str) -> None:
        raise client_error("NotThere", "gone")

    with pytest.raises(ObjectNotFound, match=r"^No widget 'w1': gone$") as caught:
        MAP.call(get_widget, name="w1")
    assert isinstance(caught.value.__cause__, ClientError)  # raised `from` the vendor error


def test_other_codes_take_the_default_and_connection_errors_the_unreachable_entry():
    with pytest.raises(Unavailable, match=r"^Widgets: Throttled: slow down$"), MAP.translating():
        raise client_error("Throttled", "slow down")
    with pytest.raises(Unavailable, match=r"^Widgets could not be reached: Could not connect"), MAP.translating():
        raise EndpointConnectionError(endpoint_url=ENDPOINT)


def test_a_retryable_code_translates_to_none_and_extend_overrides_entries():
    assert MAP.translate(client_error("Busy")) is None
    strict = MAP.extend({"Busy": (Conflict, "busy: {message}")})
    assert isinstance(strict.translate(client_error("Busy")), Conflict)
    assert MAP.translate(client_error("Busy")) is None  # the original is unchanged


def test_mintaka_errors_and_bugs_pass_through_untouched():
    with pytest.raises(InvalidRequest), MAP.translating():
        raise InvalidRequest("ours")
    with pytest.raises(KeyError), MAP.translating():
        raise KeyError("a bug")


def test_one_client_per_service_and_endpoint_all_on_one_session(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    sqs = _aws.aws_client("sqs", "us-east-1", ENDPOINT)
    assert _aws.aws_client("sqs", "us-east-1", ENDPOINT) is sqs
    other = _aws.aws_client("sqs", "us-east-1", "http://127.0.0.1:2")
    assert other is not sqs and other.meta.endpoint_url == "http://127.0.0.1:2"
    scheduler = _aws.aws_client("scheduler", "us-east-1", ENDPOINT)
    assert scheduler._loader is sqs._loader is _aws.botocore_session().get_component("data_loader")
    config = sqs.meta.config
    assert (config.retries["mode"], config.retries["total_max_attempts"]) == ("standard", _aws.MAX_ATTEMPTS)
    assert (config.connect_timeout, config.read_timeout) == (_aws.CONNECT_TIMEOUT_SECONDS, _aws.READ_TIMEOUT_SECONDS)


def test_the_dynamodb_store_builds_its_client_on_the_shared_session(monkeypatch):
    pytest.importorskip("pynamodb")
    from mintaka_server.storage.dynamodb import DynamoDBStore

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    store = DynamoDBStore("t-plumbing", endpoint_url=ENDPOINT, region="us-east-1")
    try:
        assert store.client._loader is _aws.botocore_session().get_component("data_loader")
        config = store.client.meta.config
        assert (config.connect_timeout, config.retries["total_max_attempts"]) == (
            _aws.CONNECT_TIMEOUT_SECONDS,
            _aws.MAX_ATTEMPTS,
        )
    finally:
        store.close()
