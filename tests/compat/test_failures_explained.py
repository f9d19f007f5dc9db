"""Failures tell you why: the traceback in the run's logs at ERROR (shipped to the API), the
failed state's message naming the exception; the package's version from its metadata."""

from __future__ import annotations

import logging
from importlib.metadata import version

import mintaka
from mintaka import flow, task
from mintaka.logging import flush_logs
from mintaka.schemas import FlowRunFilter


def _logs(client, run_id):
    flush_logs()
    return client.read_logs(run_id)


def test_a_task_failure_logs_its_traceback_at_error_and_names_the_exception(client):
    @task
    def parse(text):
        return int(text)

    @flow
    def f():
        return parse("not a number", return_state=True)

    state = f(return_state=True).result(raise_on_failure=False)
    assert state.message == (
        "Task run encountered an exception ValueError: invalid literal for int() with base 10: 'not a number'"
    )
    [run] = client.list_flow_runs(FlowRunFilter(flow_name="f")).items
    errors = [log for log in _logs(client, run.id) if log.level == logging.ERROR]
    [traceback] = [log for log in errors if "Traceback (most recent call last)" in log.message]
    assert traceback.task_run_id == state.state_details.task_run_id
    assert "Encountered exception during execution:" in traceback.message
    assert "in parse\n    return int(text)" in traceback.message
    assert traceback.message.rstrip().endswith("ValueError: invalid literal for int() with base 10: 'not a number'")


def test_a_flow_failure_logs_its_traceback(client):
    @flow
    def broken():
        {}["missing"]

    state = broken(return_state=True)
    assert state.message == "Flow run encountered an exception. KeyError: 'missing'"
    [run] = client.list_flow_runs(FlowRunFilter(flow_name="broken")).items
    messages = [log.message for log in _logs(client, run.id) if log.level == logging.ERROR]
    assert any("Traceback" in m and "KeyError: 'missing'" in m and "in broken" in m for m in messages)


def test_the_version_comes_from_the_installed_package():
    assert mintaka.__version__ == version("mintaka")
