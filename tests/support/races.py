"""Shared by the race tests of every store: task runs racing through a concurrency limit, with
what the racers saw and what the store said at the same time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mintaka.schemas import SetStateRequest, SetStateStatus
from mintaka.states import State, StateType


@dataclass
class SlotOccupancy:
    """How many racers were inside the limited section at once, and the store's own view."""

    inside: int = 0
    max_inside: int = 0
    max_counter: int = 0
    max_running: int = 0
    waits: int = 0
    limit: int = 2
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Set once `limit` racers were inside together. The first racers in wait for it, so a loaded
    # machine, where one racer's whole turn can be quicker than the next racer's first request,
    # still fills the limit: a store that lets fewer in than it should fails after the timeout.
    full: threading.Event = field(default_factory=threading.Event)

    def run_through_slot(self, service, run_id, hold: float, retry_sleep: float) -> None:
        """Start the task run (waiting while the server answers WAIT), hold, complete it."""
        while True:
            answer = service.set_task_run_state(run_id, SetStateRequest(state=State(type=StateType.RUNNING)))
            if answer.status is SetStateStatus.ACCEPT:
                break
            assert answer.status is SetStateStatus.WAIT, answer
            with self.lock:
                self.waits += 1
            time.sleep(retry_sleep)  # the server asks for 0.5 s; keep the test quick
        with self.lock:
            self.inside += 1
            self.max_inside = max(self.max_inside, self.inside)
            if self.inside >= self.limit:
                self.full.set()
        self.full.wait(timeout=30)
        time.sleep(hold)
        with self.lock:
            self.inside -= 1
        done = service.set_task_run_state(run_id, SetStateRequest(state=State(type=StateType.COMPLETED)))
        assert done.status is SetStateStatus.ACCEPT

    def sample(self, counter: int, running: int) -> None:
        with self.lock:
            self.max_counter = max(self.max_counter, counter)
            self.max_running = max(self.max_running, running)

    def assert_limit_held(self, setup, task_runs, tag: str, limit: int) -> None:
        """The limit was reached and never exceeded, and every slot was given back."""
        assert self.max_inside == limit  # the limit was reached...
        assert self.max_counter <= limit  # ...and never exceeded, by the counter
        assert self.max_running <= limit  # or by the runs themselves
        assert self.waits > 0
        assert setup.read_concurrency_limit(tag).active_slots == 0
        for run in task_runs:
            stored = setup.read_task_run(run.id)
            assert stored.state.type is StateType.COMPLETED and stored.held_slots == []
            assert [s.type for s in setup.read_task_run_states(run.id)] == [
                StateType.PENDING,
                StateType.RUNNING,
                StateType.COMPLETED,
            ]


def race_rounds(
    n_racers: int,
    rounds: int,
    prepare: Callable[[int], Any],
    racer: Callable[[int, Any], Any],
    timeout: float = 300.0,
) -> list[tuple[Any, list[Any]]]:
    """Race `n_racers` threads `rounds` times: before each round `prepare(round)` makes what
    they race for (while every racer waits), then all race at once with `racer(index, prepared)`.
    Returns each round's prepared value and its racers' answers (index order). The first error of
    any racer is raised; a racer that hangs fails the race."""
    prepared: list[Any] = []
    answers: list[list[Any]] = [[None] * n_racers for _ in range(rounds)]
    errors: list[BaseException] = []
    # The barrier's action runs in one thread once all have arrived: the next round is set up
    # while nobody races, and released at once.
    barrier = threading.Barrier(n_racers, action=lambda: prepared.append(prepare(len(prepared))))

    def run(index: int) -> None:
        try:
            for round_ in range(rounds):
                barrier.wait(timeout=120)
                answers[round_][index] = racer(index, prepared[round_])
        except BaseException as exc:  # surfaced below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n_racers)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "a racer hung"
    real = [exc for exc in errors if not isinstance(exc, threading.BrokenBarrierError)]
    if real or errors:
        raise (real or errors)[0]
    return list(zip(prepared, answers, strict=True))
