"""The store port is split into narrow ports; code that needs one part takes that part, so what
it may touch is in its signature (issue 9 §4)."""

from __future__ import annotations

import inspect
import typing

import pytest

from mintaka_server.queues.embedded import EmbeddedWorkQueues
from mintaka_server.services._deferred_starts import DeferredStarts
from mintaka_server.services.api_keys import ApiKeyService
from mintaka_server.services.retry_policies import RetryPolicyService
from mintaka_server.services.trigger_index import TriggerIndex
from mintaka_server.storage import (
    ApiKeyStore,
    ConcurrencyLimitStore,
    DocumentStore,
    LogStore,
    RunStore,
    Store,
)
from mintaka_server.storage.dynamodb import DynamoDBStore
from mintaka_server.storage.sqlite import SQLiteStore

PORTS = (RunStore, ConcurrencyLimitStore, LogStore, ApiKeyStore, DocumentStore)


def test_the_narrow_ports_split_the_store_without_overlap_or_loss():
    owned = [set(port.__abstractmethods__) for port in PORTS]
    assert set().union(*owned) == set(Store.__abstractmethods__)
    assert sum(len(methods) for methods in owned) == len(Store.__abstractmethods__)
    assert all(len(methods) <= 16 for methods in owned), [len(m) for m in owned]


@pytest.mark.parametrize("adapter", [SQLiteStore, DynamoDBStore])
def test_each_adapter_is_every_port(adapter):
    assert all(issubclass(adapter, port) for port in PORTS)


@pytest.mark.parametrize(
    ("consumer", "port"),
    [
        (ApiKeyService, ApiKeyStore),
        (RetryPolicyService, DocumentStore),
        (TriggerIndex, DocumentStore),
        (EmbeddedWorkQueues, RunStore),
        (DeferredStarts, RunStore),
    ],
)
def test_a_consumer_of_one_part_takes_only_that_port(consumer, port):
    hints = typing.get_type_hints(consumer.__init__)
    assert hints["store"] is port, f"{consumer.__name__} takes {hints['store']}"
    assert "store" in inspect.signature(consumer).parameters
