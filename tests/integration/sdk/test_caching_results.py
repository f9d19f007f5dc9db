"""Caching skips the body; results persist when asked, as a reference in the state."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from urllib.parse import urlparse

from mintaka import flow, task
from mintaka.settings import get_settings
from mintaka.tasks import task_input_hash


def test_cache_hit_skips_the_body(client):
    calls = []

    @task(cache_key_fn=task_input_hash)
    def expensive(x):
        calls.append(x)
        return {"value": x * 10}

    @flow
    def f(x: int):
        return (expensive(x, return_state=True),)  # a bare state would become the flow's state

    [first], [second], [other] = f(1), f(1), f(2)
    assert calls == [1, 2]
    assert first.name == "Completed"
    assert second.name == "Cached" and second.is_completed()
    assert second.result() == {"value": 10}
    assert other.name == "Completed" and other.result() == {"value": 20}
    history = [s.name for s in client.read_task_run_states(second.state_details.task_run_id)]
    assert history == ["Pending", "Cached"]


def test_cache_expiration(client):
    from mintaka.clock import advance, time_skipping

    calls = []

    @task(cache_key_fn=lambda ctx, params: "fixed-key", cache_expiration=dt.timedelta(seconds=60))
    def expiring():
        calls.append(1)
        return len(calls)

    @flow
    def f():
        return expiring()

    with time_skipping():  # the test clock, not a sleep: the API sees the same time
        assert f() == 1
        assert f() == 1  # cached
        advance(61)
        assert f() == 2  # expired: ran again
    assert len(calls) == 2


def test_persisted_result_is_a_reference_to_a_file(client):
    @task(persist_result=True)
    def produce():
        return [1, 2, 3]

    @task(persist_result=True, result_serializer="json")
    def produce_json():
        return {"a": 1}

    @flow
    def f():
        return produce(return_state=True), produce_json(return_state=True)

    pickled, as_json = f()
    for state in (pickled, as_json):
        stored = client.read_task_run(state.state_details.task_run_id).state
        assert stored.data is not None
        path = Path(urlparse(stored.data.storage).path) / stored.data.key
        assert path.is_file()
        assert path.parent == get_settings().results_path.resolve()
    stored = client.read_task_run(as_json.state_details.task_run_id).state
    assert json.loads((Path(urlparse(stored.data.storage).path) / stored.data.key).read_text()) == {"a": 1}
    # A state read back from the API loads its value from the result store.
    assert stored.result() == {"a": 1}


def test_results_not_persisted_by_default(client):
    @task
    def plain():
        return object()

    @flow
    def f():
        return (plain(return_state=True),)

    [state] = f()
    assert client.read_task_run(state.state_details.task_run_id).state.data is None
    assert not get_settings().results_path.exists() or not any(get_settings().results_path.iterdir())
