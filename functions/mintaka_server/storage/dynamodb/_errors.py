"""DynamoDB errors as Mintaka errors (DESIGN §7.3): `DYNAMODB_ERRORS`, a `mintaka._aws.ErrorMap`,
plus what only a transaction's cancellation reasons can tell.

`call(operation)` runs one request (or one lazily paged read) and translates whatever botocore
or pynamodb raise: a failed condition becomes a domain conflict, throttling and transaction
conflicts (nothing was written) are retried with jittered exponential backoff, anything else is
a `MintakaError` raised `from` the vendor error. No botocore or pynamodb exception leaves the
adapter.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from mintaka._aws import ErrorMap, error_code
from mintaka_core.exceptions import Conflict, InvalidRequest, MintakaError, StoreBusy

from ..port import SlotsUnavailable, VersionConflict

T = TypeVar("T")

MAX_ATTEMPTS = 5
BASE_DELAY_SECONDS = 0.02
MAX_DELAY_SECONDS = 1.0

# Error codes of a request DynamoDB did not apply: retrying it is safe.
RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TransactionConflictException",
        "TransactionInProgressException",
    }
)
# Cancellation reasons of a transaction that wrote nothing and may succeed when sent again.
RETRYABLE_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
CONDITION_FAILED = "ConditionalCheckFailed"
_FAILED = (MintakaError, "DynamoDB {what} failed: {code}: {message}")
DYNAMODB_ERRORS = ErrorMap(
    "DynamoDB",
    {
        "ConditionalCheckFailedException": (Conflict, "{what}: a condition failed"),
        "ResourceNotFoundException": (
            MintakaError,
            "DynamoDB {what}: the table does not exist (deploy template.yaml, or DynamoDBStore.create_table())",
        ),
        **{code: (None, "") for code in RETRYABLE_CODES},  # nothing was applied: send it again
    },
    default=_FAILED,
    unreachable=_FAILED,
)


class AlreadyExists(Conflict):
    """A uniqueness item (idempotency key, task identity) is taken; `ref` is its owner's id."""

    def __init__(self, ref: str | None):
        super().__init__(f"already exists: {ref}")
        self.ref = ref


class FlowRunCheckFailed(Conflict):
    """The flow run of a task run being created is missing, or closed when it had to be open."""

    def __init__(self) -> None:
        super().__init__("the flow run is missing or closed")


class NothingToRelease(Conflict):
    """Releasing these slots found their counter at zero or their limit deleted: a no-op."""

    def __init__(self, tags: Sequence[str]):
        super().__init__(f"nothing to release for {list(tags)}")
        self.tags = list(tags)


@dataclass(frozen=True)
class Role:
    """What one item of a transaction is for: decides the error its failed condition means."""

    kind: str  # "identity" | "flow_run" | "version" | "acquire" | "release" | "other"
    detail: str = ""


IDENTITY, FLOW_RUN, VERSION, OTHER = Role("identity"), Role("flow_run"), Role("version"), Role("other")
# When several conditions fail together, the first kind in this order explains the failure (a
# task run that exists already is returned, whatever its flow run has become since).
_PRIORITY = ("identity", "flow_run", "version", "acquire", "release", "other")


def condition_failed(role: Role, what: str, ref: str | None = None, released: Sequence[str] = ()) -> MintakaError:
    """What the failed condition of an item with `role` means (a transaction's, or a single write's)."""
    if role.kind == "identity":
        return AlreadyExists(ref)
    if role.kind == "flow_run":
        return FlowRunCheckFailed()
    if role.kind == "version":
        return VersionConflict(f"{what}: the run changed since it was read")
    if role.kind == "acquire":
        return SlotsUnavailable(f"No free concurrency slot for tag {role.detail!r}")
    if role.kind == "release":
        return NothingToRelease(list(released) or [role.detail])
    return Conflict(f"{what}: a condition failed")


def _cancelled(exc: BaseException, roles: Sequence[Role], what: str) -> MintakaError | None:
    """The domain meaning of a cancelled transaction; None when it is worth sending again."""
    reasons = list(getattr(exc, "cancellation_reasons", None) or [])
    failed = [
        (role, reason)
        for role, reason in zip(roles, reasons, strict=False)
        if reason is not None and reason.code == CONDITION_FAILED
    ]
    if failed:
        failed.sort(key=lambda pair: _PRIORITY.index(pair[0].kind))
        role, reason = failed[0]
        ref = ((reason.raw_item or {}).get("ref") or {}).get("S")
        return condition_failed(role, what, ref, [r.detail for r, _ in failed if r.kind == "release"])
    if any(reason and reason.code in RETRYABLE_REASONS for reason in reasons):
        return None
    codes = sorted({reason.code for reason in reasons if reason})
    return MintakaError(f"DynamoDB {what} was cancelled: {', '.join(codes) or 'no reason given'}")


def _gave_up(exc: BaseException, what: str, roles: Sequence[Role]) -> MintakaError:
    """Still conflicting after every attempt. If the run item itself was in another transaction,
    that is a competing transition: `VersionConflict` sends the service back to re-read it."""
    reasons = list(getattr(exc, "cancellation_reasons", None) or [])
    for role, reason in zip(roles, reasons, strict=False):
        if role.kind == "version" and reason is not None and reason.code == "TransactionConflict":
            return VersionConflict(f"{what}: the run is being changed by another request")
    return StoreBusy(f"DynamoDB {what}: still throttled or conflicting after {MAX_ATTEMPTS} attempts; retry shortly")


def translate(exc: BaseException, what: str, roles: Sequence[Role] = ()) -> MintakaError | None:
    """The Mintaka error for a vendor error, or None if the request may simply be retried."""
    code = error_code(exc)
    if code == "TransactionCanceledException":
        return _cancelled(exc, roles, what)
    if code == "ValidationException" and "size has exceeded" in str(exc):
        return InvalidRequest(f"{what}: the record is larger than DynamoDB's 400 KB item limit")
    return DYNAMODB_ERRORS.translate(exc, what=what)


def call(operation: Callable[[], T], what: str, roles: Sequence[Role] = ()) -> T:
    """Run `operation` (one request, or a paged read consumed inside it); translate its errors.

    Only requests DynamoDB did not apply are retried, so retrying is safe even for writes."""
    for attempt in range(MAX_ATTEMPTS):
        try:
            return operation()
        except (PynamoDBException, BotoCoreError, ClientError) as exc:
            error = translate(exc, what, roles)
            if error is None and attempt + 1 < MAX_ATTEMPTS:
                delay = min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2**attempt)
                time.sleep(delay * (0.5 + random.random()))
                continue
            if error is None:
                error = _gave_up(exc, what, roles)
            raise error from exc
    raise AssertionError("unreachable")  # pragma: no cover
