"""AWS plumbing, in one place: the clients every adapter uses and the translation of their errors.

Clients. One botocore session per process (its loader caches the service models, so a client
after the first costs ~3 ms of CPU instead of ~100 ms) under one boto3 session (S3 transfers
need boto3's methods), and one client per (service, region, endpoint) and AWS environment, all
with one configuration: botocore's "standard" retry mode, 5 attempts in all, 5 s to connect, 30 s to
read. The endpoint is the caller's (settings), else botocore's own `AWS_ENDPOINT_URL` /
`AWS_ENDPOINT_URL_<SERVICE>`; the region the caller's, else `AWS_REGION` / `AWS_DEFAULT_REGION`.
Clients are thread-safe and built on first use, never at import time.

Errors. Each adapter declares an `ErrorMap`: AWS error code -> Mintaka exception class and
message template, as httpx maps transport errors, plus what "unreachable" (a `BotoCoreError`:
connection, timeout, credentials) and any other code mean. `map.call(operation, **kwargs)` or
`with map.translating(...)` raises the mapped error `from` the vendor error, so no botocore
(or pynamodb) exception leaves an adapter.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from mintaka.exceptions import MintakaError

MAX_ATTEMPTS = 5  # in all, the first included
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 30
MAX_POOL_CONNECTIONS = 32  # the threads of one Lambda container or a local server
RETRIES = {"mode": "standard", "total_max_attempts": MAX_ATTEMPTS}
# The environment a client captures when built: a change (e.g. between tests) builds another.
_ENVIRONMENT = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
)

_lock = threading.Lock()
_sessions: dict[tuple[str | None, ...], Any] = {}
_clients: dict[tuple[Any, ...], Any] = {}


def client_config(**overrides: Any) -> Any:
    """The one botocore `Config` (retries, timeouts, pool size); `overrides` for a client's extras."""
    from botocore.config import Config

    options: dict[str, Any] = {
        "retries": dict(RETRIES),
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "read_timeout": READ_TIMEOUT_SECONDS,
        "max_pool_connections": MAX_POOL_CONNECTIONS,
    }
    return Config(**{**options, **overrides})


def _environment() -> tuple[str | None, ...]:
    return tuple(os.environ.get(name) for name in _ENVIRONMENT)


def boto3_session() -> Any:
    """This process's boto3 session (over its one botocore session) for the current credentials."""
    identity = (os.environ.get("AWS_PROFILE"), os.environ.get("AWS_ACCESS_KEY_ID"))
    session = _sessions.get(identity)
    if session is None:
        with _lock:
            session = _sessions.get(identity)
            if session is None:
                try:
                    import boto3
                except ImportError as exc:
                    raise MintakaError("AWS needs boto3: pip install 'mintaka[aws]'") from exc
                session = _sessions[identity] = boto3.session.Session()
    return session


def botocore_session() -> Any:
    """The botocore session under `boto3_session()` (pynamodb's connection shares it)."""
    return boto3_session()._session


def aws_client(service: str, region: str | None = None, endpoint_url: str | None = None) -> Any:
    """The shared client of `service` at `region` / `endpoint_url` (None: the environment's)."""
    key = (service, region, endpoint_url, _environment())
    client = _clients.get(key)
    if client is None:
        session = boto3_session()
        with _lock:  # creating clients from one session is not thread-safe in botocore
            client = _clients.get(key)
            if client is None:
                region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None
                client = _clients[key] = session.client(
                    service, region_name=region, endpoint_url=endpoint_url or None, config=client_config()
                )
    return client


def reset_clients() -> None:
    """Forget every cached client and session (tests that swap credentials or endpoints)."""
    with _lock:
        _clients.clear()
        _sessions.clear()


# -- errors ------------------------------------------------------------------------------------


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore `ClientError` or a pynamodb error ("" for anything else)."""
    code = getattr(exc, "cause_response_code", None)  # pynamodb wraps the ClientError
    if code:
        return str(code)
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", "") or "")


def error_message(exc: BaseException) -> str:
    """AWS's own message for the error, else the exception's text."""
    message = getattr(exc, "cause_response_message", None)
    if message:
        return str(message)
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Message") or exc)


class _Fields(dict):
    def __missing__(self, key: str) -> str:
        return ""


# An entry: the Mintaka error class (None: nothing was applied, the caller may retry) and the
# message template. Template fields: {service}, {code}, {message}, the call's keyword arguments
# and whatever context the adapter passes.
Entry = tuple[type[MintakaError] | None, str]


@dataclass(frozen=True)
class ErrorMap:
    """What each AWS error of one service means in Mintaka's terms."""

    service: str
    codes: Mapping[str, Entry] = field(default_factory=dict)
    default: Entry = (MintakaError, "{service}: {code}: {message}")
    unreachable: Entry = (MintakaError, "{service} could not be reached: {message}")

    def extend(self, codes: Mapping[str, Entry]) -> ErrorMap:
        """This map with more (or overriding) codes, e.g. for one kind of request."""
        return ErrorMap(self.service, {**self.codes, **codes}, self.default, self.unreachable)

    def translate(self, exc: BaseException, **context: Any) -> MintakaError | None:
        """The Mintaka error for `exc` (None: the map says the request may simply be sent again)."""
        code = error_code(exc)
        if code:
            entry = self.codes.get(code, self.default)
        elif _is_unreachable(exc):
            entry = self.unreachable
        else:
            entry = self.default
        error_class, template = entry
        if error_class is None:
            return None
        fields = _Fields(context, service=self.service, code=code or type(exc).__name__, message=error_message(exc))
        return error_class(template.format_map(fields))

    @contextlib.contextmanager
    def translating(self, **context: Any) -> Iterator[None]:
        """Raise the mapped error for any vendor error raised inside."""
        try:
            yield
        except MintakaError:
            raise
        except Exception as exc:
            if not _is_vendor_error(exc):
                raise
            raise self._mapped(exc, context) from exc

    def call(self, operation: Callable[..., Any], /, **kwargs: Any) -> Any:
        """`operation(**kwargs)`, its vendor errors mapped (the kwargs fill the template too)."""
        try:
            return operation(**kwargs)
        except MintakaError:
            raise
        except Exception as exc:
            if not _is_vendor_error(exc):
                raise
            raise self._mapped(exc, kwargs) from exc

    def _mapped(self, exc: BaseException, context: Mapping[str, Any]) -> MintakaError:
        error = self.translate(exc, **context)
        if error is None:  # retryable, and the caller did not retry: say so plainly
            fields = _Fields(context, service=self.service, code=error_code(exc), message=error_message(exc))
            error = MintakaError(self.default[1].format_map(fields))
        return error


def _is_unreachable(exc: BaseException) -> bool:
    from botocore.exceptions import BotoCoreError

    return isinstance(exc, BotoCoreError) or isinstance(getattr(exc, "__cause__", None), BotoCoreError)


def _is_vendor_error(exc: BaseException) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, BotoCoreError | ClientError):
        return True
    return type(exc).__module__.startswith("pynamodb.")
