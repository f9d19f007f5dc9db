"""Helpers for tests/compat/test_prefect_examples_*.py (the harness, not part of any example).

Each test is one example from the Prefect 2.20.17 docs, Prefect's own `flows/` scripts at
2.20.17, or a public repository of Prefect 2 users (the source is cited above each test). The
example's code is kept as written: imports become `mintaka` imports, sleeps and loop sizes may
shrink, and network calls (`httpx.get`) are answered locally by monkeypatching `httpx.get`;
random failures are pinned by monkeypatching `random`. The assertions are what Prefect 2.20
documents (or its 2.20.17 source does) for that code. Every test runs on the embedded store and
over HTTP (the `client` fixture)."""

import httpx

from mintaka.logging import flush_logs
from mintaka.schemas import FlowRunFilter


class LocalHTTP:
    """Answers `httpx.get` locally: `routes` maps a URL to its answers, `(status, body)` pairs
    (a callable of the query params gives the body); answers are used in order and the last
    one repeats."""

    def __init__(self, routes):
        self.routes = {url: list(answers) for url, answers in routes.items()}
        self.calls = []

    def get(self, url, params=None, **kwargs):
        self.calls.append((url, params))
        answers = self.routes[url]
        status, body = answers.pop(0) if len(answers) > 1 else answers[0]
        if callable(body):
            body = body(params)
        request = httpx.Request("GET", url, params=params)
        if isinstance(body, str):
            return httpx.Response(status, text=body, request=request)
        return httpx.Response(status, json=body, request=request)


def serve(monkeypatch, routes) -> LocalHTTP:
    local = LocalHTTP(routes)
    monkeypatch.setattr(httpx, "get", local.get)
    return local


def flow_runs(client, name):
    return client.list_flow_runs(FlowRunFilter(flow_name=name)).items


def only_run(client, name):
    [run] = flow_runs(client, name)
    return run


def task_runs(client, flow_run_id):
    return client.read_flow_run_detail(flow_run_id).task_runs


def log_messages(client, flow_run_id):
    flush_logs()
    return [log.message for log in client.read_logs(flow_run_id)]


def by_name(runs):
    return {run.name: run for run in runs}


GITHUB_REPO = {"stargazers_count": 12146, "forks_count": 1245, "open_issues_count": 250}


def issues_page(params):
    """A page of 250 open issues opened by 100 users (2.50 issues per user)."""
    first = (params["page"] - 1) * params["per_page"]
    numbers = range(first, min(first + params["per_page"], 250))
    return [{"number": n, "user": {"id": n % 100}} for n in numbers]
