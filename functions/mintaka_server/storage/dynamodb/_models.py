"""The pynamodb model of the one table, built per store instance.

Single-table design: every entity is an `Item` with the generic keys `pk`/`sk`, up to three GSI
key pairs and the few attributes conditions and filters need; the entity itself is `doc`, the
JSON of its pydantic model. A class per store (not per module) lets one process talk to
several tables or endpoints, and keeps AWS clients out of import time.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pynamodb.attributes import (
    ListAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from mintaka import _aws

GSI_NAMES = ("gsi1", "gsi2", "gsi3")
TTL_ATTRIBUTE = "expires_at"


def _index(name: str) -> GlobalSecondaryIndex:
    meta = type("Meta", (), {"index_name": name, "projection": AllProjection()})
    attributes = {
        "Meta": meta,
        f"{name}pk": UnicodeAttribute(hash_key=True),
        f"{name}sk": UnicodeAttribute(range_key=True),
    }
    return type(f"{name.capitalize()}Index", (GlobalSecondaryIndex,), attributes)()


def build_item_model(table_name: str, host: str | None, region: str | None) -> type[Model]:
    """A fresh `Item` model class bound to one table and endpoint."""
    meta = type(
        "Meta",
        (),
        {
            "table_name": table_name,
            "host": host,
            "region": region,
            "billing_mode": "PAY_PER_REQUEST",
            # `mintaka._aws`'s one configuration: standard retries (pynamodb counts the retries,
            # not the attempts), the same timeouts and connection pool as every other client.
            "max_pool_connections": _aws.MAX_POOL_CONNECTIONS,
            "connect_timeout_seconds": _aws.CONNECT_TIMEOUT_SECONDS,
            "read_timeout_seconds": _aws.READ_TIMEOUT_SECONDS,
            "max_retry_attempts": _aws.MAX_ATTEMPTS - 1,
        },
    )
    attributes: dict = {
        "Meta": meta,
        "pk": UnicodeAttribute(hash_key=True),
        "sk": UnicodeAttribute(range_key=True),
        "doc": UnicodeAttribute(null=True),  # the entity, as its pydantic model's JSON
        "version": NumberAttribute(null=True),  # runs: the state version transitions condition on
        # Task runs: the states before the current one, oldest first (compact JSON, `_codec`).
        "hist": ListAttribute(of=UnicodeAttribute, null=True),
        "ref": UnicodeAttribute(null=True),  # uniqueness and facet items: the id they point to
        # Flow runs: how their task runs are keyed (`_keys.TASK_LAYOUT`; none: the layout before).
        "task_layout": NumberAttribute(null=True, attr_name="tl"),
        # Flow-run attributes that FilterExpressions read.
        "flow_name": UnicodeAttribute(null=True),
        "state_type": UnicodeAttribute(null=True),
        "deployment": UnicodeAttribute(null=True),
        "work_queue": UnicodeAttribute(null=True),
        "tags": UnicodeSetAttribute(null=True),
        # Concurrency limits: atomic counters.
        "lim": NumberAttribute(null=True),
        "active": NumberAttribute(null=True),
        "created": UnicodeAttribute(null=True),  # also a task identity item's order (`_keys.task_order`)
        # Log lines: the level, for a minimum-level filter.
        "level": NumberAttribute(null=True),
        # Cache entries and API keys.
        "expiration": UnicodeAttribute(null=True),
        "revoked": UnicodeAttribute(null=True),
        TTL_ATTRIBUTE: TTLAttribute(null=True),
    }
    for name in GSI_NAMES:
        attributes[f"{name}pk"] = UnicodeAttribute(null=True)
        attributes[f"{name}sk"] = UnicodeAttribute(null=True)
        attributes[name] = _index(name)
    return type("Item", (Model,), attributes)


def connect(model: type[Model]) -> Any:
    """The model's botocore client, built on the process's one botocore session.

    pynamodb would build a session of its own per connection and load DynamoDB's service model
    into it again (~0.1 s of CPU per store); its `session` property takes the thread-local one it
    finds, and the client is built here, once, so that is the shared session."""
    connection = model._get_connection().connection
    connection._local.session = _aws.botocore_session()
    return connection.client


def dump(document: BaseModel) -> str:
    """A pydantic model as the JSON kept in `doc`. Fields at their default are left out (they
    come back on validation): a task run's item shrinks under 1 KB, i.e. one write unit, not two."""
    return document.model_dump_json(exclude_defaults=True)
