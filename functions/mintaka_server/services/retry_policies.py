"""Retry policies set on the server (per flow, deployment or tag): "customised without
redeploying code". The rules read a run's effective policy when it fails.

Which policy a run gets: its deployment's, else its flow's (flow runs), else that of one of its
tags (flow and task runs; the one allowing the most retries), else its own from the code.
Looked up only when a RUNNING run proposes FAILED or CRASHED, so no other transition pays for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from mintaka_core.exceptions import InvalidRequest, ObjectNotFound
from mintaka_core.schemas import EmpiricalPolicy, FlowRun, PolicyScope, RetryPolicy, RetryPolicySet, TaskRun
from mintaka_core.states import utcnow
from mintaka_server.storage import DocumentStore

RETRY_POLICY = "retry_policy"


def _key(scope: PolicyScope, name: str) -> str:
    return f"{scope}:{name}"


class RetryPolicyService:
    def __init__(self, store: DocumentStore, clock: Callable[[], dt.datetime] = utcnow):
        self.store = store
        self.clock = clock

    def set(self, scope: PolicyScope, name: str, body: RetryPolicySet) -> RetryPolicy:
        _check_name(scope, name)
        policy = RetryPolicy(scope=scope, name=name, updated=self.clock(), **body.model_dump())
        self.store.put_document(RETRY_POLICY, _key(scope, policy.name), policy.model_dump(mode="json"))
        return policy

    def read(self, scope: PolicyScope, name: str) -> RetryPolicy:
        doc = self.store.read_document(RETRY_POLICY, _key(scope, name))
        if doc is None:
            raise ObjectNotFound(f"No retry policy for {scope} {name!r}")
        return RetryPolicy.model_validate(doc)

    def list(self) -> list[RetryPolicy]:
        return [RetryPolicy.model_validate(doc) for doc in self.store.list_documents(RETRY_POLICY)]

    def delete(self, scope: PolicyScope, name: str) -> None:
        if not self.store.delete_document(RETRY_POLICY, _key(scope, name)):
            raise ObjectNotFound(f"No retry policy for {scope} {name!r}")

    def effective(self, run: FlowRun | TaskRun) -> EmpiricalPolicy:
        """The policy the rules apply to `run` now: an override in scope, else the run's own."""
        candidates: list[tuple[PolicyScope, str]] = []
        if isinstance(run, FlowRun):
            if run.deployment_name:
                candidates.append(("deployment", run.deployment_name))
            candidates.append(("flow", run.flow_name))
        for scope, name in candidates:
            doc = self.store.read_document(RETRY_POLICY, _key(scope, name))
            if doc is not None:
                return _empirical(doc)
        tagged = [doc for tag in run.tags if (doc := self.store.read_document(RETRY_POLICY, _key("tag", tag)))]
        if tagged:
            return _empirical(max(tagged, key=lambda doc: doc["retries"]))
        return run.empirical_policy


def _check_name(scope: PolicyScope, name: str) -> None:
    if not name.strip() or len(name) > 200 or name != name.strip():
        raise InvalidRequest(f"A {scope} name must be 1 to 200 characters, without surrounding spaces (got {name!r})")
    if scope == "deployment":
        flow, _, deployment = name.partition("/")
        if not flow or not deployment or "/" in deployment:
            raise InvalidRequest(f"A deployment is named FLOW/DEPLOYMENT, e.g. etl/prod (got {name!r})")


def _empirical(doc: dict) -> EmpiricalPolicy:
    return EmpiricalPolicy(
        retries=doc["retries"],
        retry_delay_seconds=doc["retry_delay_seconds"],
        retry_jitter_factor=doc.get("retry_jitter_factor"),
    )
