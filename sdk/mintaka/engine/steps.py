"""One step machine, two drivers.

A run (flow or task) is a generator that yields the steps it needs done (API calls, its body,
waits, sleeps) and receives their results. `drive` does them synchronously; `adrive` awaits
them, so an async run does its API I/O and its waits without blocking the event loop. The
run's logic exists once, whichever way it is driven.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, TypeVar

from mintaka._sync import run_coroutine_sync
from mintaka.client.asynchronous import acall
from mintaka.clock import asleep, sleep

from .parameters import call_with_parameters
from .propose import apropose, propose
from .timeouts import await_with_timeout, timeout_after

if TYPE_CHECKING:
    from mintaka.client import MintakaClient
    from mintaka.states import State

T = TypeVar("T")
Machine = Generator["Step", Any, T]


class Step:
    __slots__ = ()

    def run(self) -> Any:
        raise NotImplementedError

    async def arun(self) -> Any:
        return self.run()


class Call(Step):
    """A client call (`client.method(*args)`)."""

    __slots__ = ("args", "client", "method")

    def __init__(self, client: MintakaClient, method: str, *args: Any):
        self.client, self.method, self.args = client, method, args

    def run(self) -> Any:
        return getattr(self.client, self.method)(*self.args)

    async def arun(self) -> Any:

        return await acall(self.client, self.method, *self.args)


class Propose(Step):
    """Propose a state; WAIT answers are obeyed here, so the machine sees the final answer."""

    __slots__ = ("client", "kind", "labels", "run_id", "state")

    def __init__(self, client: MintakaClient, kind: str, run_id: Any, state: State, labels: dict | None = None):
        self.client, self.kind, self.run_id, self.state, self.labels = client, kind, run_id, state, labels

    def run(self) -> Any:
        return propose(self.client, self.kind, self.run_id, self.state, labels=self.labels)

    async def arun(self) -> Any:
        return await apropose(self.client, self.kind, self.run_id, self.state, labels=self.labels)


class Body(Step):
    """Run user code: `fn(**parameters)` within `timeout` seconds. Returns its value; raises
    what it raised."""

    __slots__ = ("fn", "on_enter", "on_exit", "parameters", "timeout")

    def __init__(
        self,
        fn: Callable,
        parameters: dict[str, Any],
        timeout: float | None,
        on_enter: Callable[[], Any] | None = None,
        on_exit: Callable[[Any], None] | None = None,
    ):
        self.fn, self.parameters, self.timeout = fn, parameters, timeout
        self.on_enter, self.on_exit = on_enter, on_exit

    def run(self) -> Any:

        token = self.on_enter() if self.on_enter else None
        try:
            with timeout_after(self.timeout):
                return call_with_parameters(self.fn, self.parameters)
        finally:
            if self.on_exit:
                self.on_exit(token)

    async def arun(self) -> Any:

        token = self.on_enter() if self.on_enter else None
        try:
            result = call_with_parameters(self.fn, self.parameters)
            if asyncio.iscoroutine(result):
                return await await_with_timeout(result, self.timeout)
            return result
        finally:
            if self.on_exit:
                self.on_exit(token)


class WaitFor(Step):
    """Wait until the given futures are done (in async runs, without blocking the loop)."""

    __slots__ = ("futures",)

    def __init__(self, futures: list[Any]):
        self.futures = futures

    def run(self) -> None:
        pending = [f._inner for f in self.futures if not f._inner.done()]
        if pending:
            cf.wait(pending)  # a future holding an exception is done too: it is not raised here

    async def arun(self) -> None:
        pending = [asyncio.wrap_future(f._inner) for f in self.futures if not f._inner.done()]
        if pending:
            await asyncio.wait(pending)


class Sleep(Step):
    __slots__ = ("seconds",)

    def __init__(self, seconds: float):
        self.seconds = seconds

    def run(self) -> None:

        sleep(self.seconds)

    async def arun(self) -> None:

        await asleep(self.seconds)


class Do(Step):
    """Any other blocking work, e.g. a state hook; an async hook is awaited when driven async."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[], Any]):
        self.fn = fn

    def run(self) -> Any:
        result = self.fn()
        if asyncio.iscoroutine(result):
            return run_coroutine_sync(result)
        return result

    async def arun(self) -> Any:
        result = self.fn()
        if asyncio.iscoroutine(result):
            return await result
        return result


def drive(machine: Machine[T]) -> T:
    """Run a machine to its end, doing each step synchronously."""
    send: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = machine.throw(error) if error is not None else machine.send(send)
        except StopIteration as stop:
            return stop.value
        send = error = None
        try:
            send = step.run()
        except BaseException as exc:
            error = exc


async def adrive(machine: Machine[T]) -> T:
    """Run a machine to its end, awaiting each step."""
    send: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = machine.throw(error) if error is not None else machine.send(send)
        except StopIteration as stop:
            return stop.value
        send = error = None
        try:
            send = await step.arun()
        except BaseException as exc:
            error = exc
