"""Errors. One root, `MintakaError`; control-flow signals derive from BaseException so a
user's `except Exception` cannot swallow them."""

from __future__ import annotations


class MintakaError(Exception):
    """Root of every error Mintaka raises on purpose."""


class ObjectNotFound(MintakaError):
    """The named flow, run, or limit does not exist."""


class InvalidRequest(MintakaError):
    """The request is malformed; the message says what to fix."""


class Conflict(MintakaError):
    """The write lost a race or breaks a uniqueness rule; nothing was written."""


class Unauthorized(MintakaError):
    """The API refused the request's credentials (no API key, or a wrong or revoked one)."""


class ApiUnavailable(MintakaError):
    """The orchestration API could not be reached."""


class StoreBusy(MintakaError):
    """The store was throttled or contended past its retries; nothing was written, so sending the
    request again is safe (the API answers 503 with Retry-After)."""


class ApiOutageExceeded(ApiUnavailable):
    """The API stayed unreachable for longer than `MINTAKA_API_OUTAGE_TOLERANCE`: the run ends CRASHED."""


class ParameterValidationError(MintakaError, TypeError):
    """A flow was called with parameters that do not match its signature."""


class ParameterTypeError(ParameterValidationError):
    """A flow's parameters do not validate against its type hints (Prefect 2's name)."""


class UnfinishedRun(MintakaError):
    """A result was asked of a run that has not finished."""


class MintakaTimeoutError(MintakaError, TimeoutError):
    """A flow or task ran longer than its `timeout_seconds`."""


class MissingContextError(MintakaError, RuntimeError):
    """Something that needs a run context was called outside of a flow or task run."""


class UpstreamTaskError(MintakaError):
    """An upstream run this run depends on did not complete, so this run did not start."""


class Abort(BaseException):
    """The orchestrator told the client to stop this run (e.g. its flow run has finished)."""


class FlowRunCancelled(BaseException):
    """The flow run was cancelled while it ran here; the engine stops it and reports it."""


class FlowRunSuspended(BaseException):
    """The flow run was suspended (`suspend_flow_run`): this execution ends here, holding
    nothing; a resume sends the run to its work queue, and the next execution replays it."""

    def __init__(self, message: str, state=None):
        super().__init__(message)
        self.state = state  # the run's PAUSED ("Suspended") state


# The one table of errors and HTTP statuses, read both ways: the server answers an error with
# the status of the first row whose class it is (most specific first); a client turns a 4xx
# answer back into the first row's class for that status (any other 4xx, the catch-all's 400
# included: InvalidRequest).
ERROR_STATUS: tuple[tuple[type[MintakaError], int], ...] = (
    (Unauthorized, 401),
    (ObjectNotFound, 404),
    (Conflict, 409),
    (InvalidRequest, 422),
    (StoreBusy, 503),
    (MintakaError, 400),
)


def status_for(exc: MintakaError) -> int:
    """The HTTP status the API answers `exc` with."""
    return next(status for cls, status in ERROR_STATUS if isinstance(exc, cls))


def error_for_status(status: int) -> type[MintakaError]:
    """The error a client raises for a 4xx answer (403, a key's scope too low, reads as 401)."""
    status = 401 if status == 403 else status
    found = next((cls for cls, code in ERROR_STATUS if code == status and status < 500), None)
    return InvalidRequest if found is None or found is MintakaError else found
