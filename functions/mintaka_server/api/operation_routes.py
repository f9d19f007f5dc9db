"""Routes of the client's operations, declared by the operation table (`mintaka_core.operations`):
a handler names its operation, and the route's method, path and name come from the table, so the
API surface is written once. The handler binds the request to a service call (its parameters and
return annotation: FastAPI reads them); an operation without an answer is a 204."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Response, status

from mintaka_core.operations import OPS

Handler = TypeVar("Handler", bound=Callable[..., Any])


def operation(router: APIRouter, name: str, **route: Any) -> Callable[[Handler], Handler]:
    """Register the decorated handler as the route of operation `name` on `router` (whose prefix
    must begin the table's path). `route`: FastAPI's other route options (e.g. `status_code=201`
    for a create, `tags`)."""
    op = OPS[name]
    if not op.path.startswith(router.prefix):
        raise ValueError(f"operation {name} is {op.path}, outside this router's {router.prefix}")
    if op.response is None:
        route = {"status_code": status.HTTP_204_NO_CONTENT, "response_class": Response, **route}
    return router.api_route(op.path.removeprefix(router.prefix), methods=[op.method], name=name, **route)
