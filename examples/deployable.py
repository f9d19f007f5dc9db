"""Flows to deploy: a greeting that logs and returns, a slow one, and one that fails.

mintaka deploy examples/deployable.py:greet --name hourly --param name=Ada --interval 3600
mintaka worker start --queue default
mintaka deployment run greet/hourly --param name=Grace --watch
"""

from __future__ import annotations

import time

from mintaka import flow, get_run_logger, task


@task
def shout(text: str) -> str:
    return text.upper()


@flow(persist_result=True, result_serializer="json")
def greet(name: str = "world", times: int = 1) -> str:
    """Greets `name`, `times` times; the greeting is logged and returned."""
    greeting = " ".join([f"Hello, {name}!"] * times)
    get_run_logger().info("greeting: %s", greeting)
    get_run_logger().info("shouted: %s", shout(greeting))
    return greeting


@flow
def nap(seconds: float = 1.0, label: str = "nap") -> str:
    """Sleeps, so tests can watch concurrency limits."""
    get_run_logger().info("%s: sleeping %.1fs", label, seconds)
    time.sleep(seconds)
    return label


@flow
def broken(reason: str = "this flow always fails") -> None:
    """Fails, so `deployment run --watch` has something to report."""
    raise RuntimeError(reason)


if __name__ == "__main__":
    print(greet("Ada", 2))
