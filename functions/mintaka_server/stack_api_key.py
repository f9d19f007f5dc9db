"""A CloudFormation custom resource (`Custom::MintakaApiKey`) that gives the stack's Lambda
worker its API key: a key made with `ApiKeyService` on the stack's table (so `mintaka api-key ls`
lists it and `revoke` works), its secret written once into a Secrets Manager secret the worker
alone may read. No plaintext key in any template, parameter or function configuration.

- Create: a new key (`Name`, `Scope` from the resource's properties) → `PutSecretValue` on
  `SecretArn`; the physical id is the key's id. If the secret cannot be written, the key is
  revoked again and the resource fails.
- Update (a property changed, e.g. `Rotation`): a new key in the secret, a new physical id;
  CloudFormation then deletes the old one, which revokes the old key.
- Delete: the key is revoked (the table is retained, so the record stays, revoked).

The answer goes to the presigned `ResponseURL` CloudFormation hands over, success or failure,
so a broken stack fails in seconds instead of waiting an hour for a timeout.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any

from mintaka_core.exceptions import ObjectNotFound

logger = logging.getLogger(__name__)

KEY_NAME = "lambda-worker"
KEY_SCOPE = "write"


def handler(event: dict[str, Any], context: Any) -> None:
    """Lambda entry point for the custom resource; always answers CloudFormation."""
    try:
        physical_id, data = _apply(event)
        _respond(event, context, "SUCCESS", physical_id, data=data)
    except Exception as exc:
        logger.exception("Custom::MintakaApiKey %s failed", event.get("RequestType"))
        fallback = event.get("PhysicalResourceId") or f"failed-{event.get('RequestId', 'unknown')}"
        _respond(event, context, "FAILED", fallback, reason=f"{type(exc).__name__}: {exc}")


def _apply(event: dict[str, Any]) -> tuple[str, dict[str, str]]:
    from mintaka_core.schemas import ApiKeyCreate
    from mintaka_server.config import build_store
    from mintaka_server.server_settings import get_server_settings
    from mintaka_server.services.api_keys import ApiKeyService

    settings = get_server_settings()
    properties = event.get("ResourceProperties", {})
    store = build_store(settings)
    try:
        keys = ApiKeyService(store)
        if event["RequestType"] == "Delete":
            _revoke(keys, event.get("PhysicalResourceId", ""))
            return event.get("PhysicalResourceId", ""), {}
        secret_arn = properties["SecretArn"]
        body = ApiKeyCreate(name=properties.get("Name", KEY_NAME), scope=properties.get("Scope", KEY_SCOPE))
        created = keys.create(body)
        try:
            _secrets(settings).put_secret_value(SecretId=secret_arn, SecretString=created.key)
        except Exception:
            keys.revoke(created.id)  # a key nobody can read must not stay live
            raise
        return created.id, {"KeyId": created.id, "SecretArn": secret_arn}
    finally:
        store.close()


def _revoke(keys: Any, key_id: str) -> None:
    if not key_id or key_id.startswith("failed-"):  # a Create that failed made no key
        return
    try:
        keys.revoke(key_id)
    except ObjectNotFound:
        logger.warning("API key %s was already gone", key_id)


def _secrets(settings: Any) -> Any:
    from mintaka._aws import aws_client

    return aws_client("secretsmanager", settings.aws_region, settings.aws_endpoint_url)


def _respond(
    event: dict[str, Any],
    context: Any,
    status: str,
    physical_id: str,
    data: dict[str, str] | None = None,
    reason: str | None = None,
) -> None:
    log_stream = getattr(context, "log_stream_name", "") or ""
    body = {
        "Status": status,
        "Reason": (reason or f"See CloudWatch log stream {log_stream}")[:1000],
        "PhysicalResourceId": physical_id,
        "StackId": event.get("StackId"),
        "RequestId": event.get("RequestId"),
        "LogicalResourceId": event.get("LogicalResourceId"),
        "NoEcho": True,
        "Data": data or {},
    }
    payload = json.dumps(body).encode()
    # The presigned URL was signed without a content type: send none.
    request = urllib.request.Request(
        event["ResponseURL"],
        data=payload,
        method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(payload))},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        answer.read()
