"""A TransactWriteItems built item by item, each item labelled with its `Role`.

pynamodb sends a transaction's items grouped by operation (condition checks, deletes, puts,
updates); the roles are kept in that same order so each cancellation reason is matched to the
item it is about.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from mintaka_core.exceptions import Conflict, InvalidRequest

from ._errors import OTHER, Role, call, condition_failed

MAX_ITEMS = 100  # DynamoDB's limit per TransactWriteItems


class Transaction:
    def __init__(self, model: type[Model], what: str):
        self.model = model
        self.what = what
        self._checks: list[tuple[Role, str, str, Condition]] = []
        self._deletes: list[tuple[Role, Model, Condition | None]] = []
        self._puts: list[tuple[Role, Model, Condition | None, str | None]] = []
        self._updates: list[tuple[Role, Model, list[Action], Condition | None]] = []

    def __len__(self) -> int:
        return len(self._checks) + len(self._deletes) + len(self._puts) + len(self._updates)

    def check(self, pk: str, sk: str, condition: Condition, role: Role = OTHER) -> None:
        self._checks.append((role, pk, sk, condition))

    def delete(self, pk: str, sk: str, condition: Condition | None = None, role: Role = OTHER) -> None:
        self._deletes.append((role, self.model(pk, sk), condition))

    def put(
        self,
        pk: str,
        sk: str,
        condition: Condition | None = None,
        role: Role = OTHER,
        return_old: bool = False,
        **attributes: Any,
    ) -> None:
        item = self.model(pk, sk, **{k: v for k, v in attributes.items() if v is not None})
        self._puts.append((role, item, condition, "ALL_OLD" if return_old else None))

    def update(
        self, pk: str, sk: str, actions: list[Action], condition: Condition | None = None, role: Role = OTHER
    ) -> None:
        self._updates.append((role, self.model(pk, sk), actions, condition))

    @property
    def roles(self) -> list[Role]:
        groups = (self._checks, self._deletes, self._puts, self._updates)
        return [entry[0] for group in groups for entry in group]

    def _send(self) -> None:
        connection = self.model._get_connection().connection
        # A fresh token per attempt: botocore's own retries of this request reuse it, so a
        # transaction whose answer was lost is not applied twice.
        with TransactWrite(connection=connection, client_request_token=str(uuid.uuid4())) as tx:
            for _, pk, sk, condition in self._checks:
                tx.condition_check(self.model, pk, sk, condition=condition)
            for _, item, condition in self._deletes:
                tx.delete(item, condition=condition)
            for _, item, condition, return_values in self._puts:
                tx.save(item, condition=condition, return_values=return_values)
            for _, item, actions, condition in self._updates:
                tx.update(item, actions, condition=condition)

    def _single(self) -> tuple[Role, Callable[[], Any]] | None:
        """The one write of a transaction of one put, update or delete, as a plain request."""
        if len(self) != 1 or self._checks:
            return None
        if self._updates:
            role, item, actions, condition = self._updates[0]
            return role, lambda: item.update(actions, condition=condition)
        if self._puts:
            role, item, condition, _ = self._puts[0]
            return role, lambda: item.save(condition=condition)
        role, item, condition = self._deletes[0]
        return role, lambda: item.delete(condition=condition)

    def commit(self) -> None:
        if len(self) > MAX_ITEMS:
            raise InvalidRequest(f"{self.what}: {len(self)} items, more than DynamoDB's {MAX_ITEMS} per transaction")
        single = self._single()
        if single is None:
            call(self._send, self.what, self.roles)
            return
        # One item needs no transaction: a plain write is billed half (1 WCU per KB, not 2).
        role, send = single
        try:
            call(send, self.what)
        except Conflict as failed:
            if type(failed) is not Conflict:
                raise
            raise condition_failed(role, self.what) from failed
