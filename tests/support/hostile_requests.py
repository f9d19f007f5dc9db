"""A hostile request corpus, generated per route and per field.

Every route has one or more valid baseline requests (`BASELINES`). Each field of a baseline
(every leaf and every list or object of its JSON body, every query parameter, every path
segment) is replaced in turn by each hostile value of its kind: extreme and malformed times,
integers past 64 bits and non-finite floats, huge offsets and limits, deep nesting, NUL bytes and
lone surrogates. A route the baselines do not know (added later) still gets its path segments and
a set of hostile bodies. Bodies are serialized here (not by the HTTP client), so that a lone
surrogate travels as the JSON escape `\\ud800` and NaN as the literal `NaN`.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# Placeholders the seeded world fills in (see `World`).
RUN, TASK = "{run}", "{task}"
TIME = "2030-01-02T03:04:05+00:00"


@dataclass(frozen=True)
class Raw:
    """JSON text sent as is where a value goes (too deep for `json.dumps`, or not JSON at all)."""

    text: str
    label: str

    def __repr__(self) -> str:
        return self.label


def _deep(opening: str, closing: str, depth: int, inner: str = "1") -> Raw:
    kind = "lists" if opening == "[" else "objects"
    return Raw(opening * depth + inner + closing * depth, f"<{depth} nested {kind}>")


DEEP = [
    _deep("[", "]", 10_000),
    _deep('{"a":', "}", 10_000),
    _deep("[", "]", 101),
    _deep('{"a":', "}", 101),
    _deep("[", "]", 300),
    _deep('{"a":', "}", 300),
]
HUGE_NUMBERS: list[Any] = [
    2**63,
    2**63 - 1,
    -(2**63) - 1,
    2**64,
    10**30,
    -(10**30),
    10**400,
    1e308,
    -1e308,
    5e-324,
    -1,
    0,
    0.5,
    Raw("NaN", "NaN"),
    Raw("Infinity", "Infinity"),
    Raw("-Infinity", "-Infinity"),
    Raw("1e999", "1e999"),
    "NaN",
    "1e308",
]
TIMES: list[Any] = [
    "0001-01-01T00:00:00",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00-14:00",
    "9999-12-31T23:59:59",
    "9999-12-31T23:59:59.999999-14:00",
    "9999-12-31T23:59:59+14:00",
    "1899-12-31T23:59:59Z",
    "3000-01-01T00:00:00Z",
    "2024-02-30T00:00:00Z",
    "2024-01-01T00:00:00+25:00",
    "2024-01-01T00:00:00",
    "2024-01-01",
    "garbage",
    "",
    253402300800,
    -62135596801,
    2**63,
    1e308,
]
TEXTS: list[Any] = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "\u202e\ufeff",
    "../../etc/passwd",
    "a" * 100_000,
    7,
]
BOOLS: list[Any] = ["yes", 2, [True]]
LISTS: list[Any] = [["\x00"], ["\ud800"], [None], [{}], "x", {}, *DEEP[::2]]
OBJECTS: list[Any] = [{"\ud800": 1}, {"\x00": "\x00"}, {"k": 2**64}, {"k": Raw("NaN", "NaN")}, [], "x", *DEEP]
ANYTHING: list[Any] = [None, "\ud800", 2**63, DEEP[1]]
PATH_SEGMENTS = [
    "%00",
    "a%00b",
    "%ED%A0%80",
    "%FF",
    "x" * 3000,
    "%2e%2e",
    "00000000-0000-0000-0000-000000000000",
    "-1",
    "9" * 30,
]


def _cursor(text: str) -> str:
    """A page cursor as the API makes them (URL-safe base64 of a JSON list), with forged contents."""
    return base64.urlsafe_b64encode(text.encode("utf-8", "surrogatepass")).decode()


FORGED_CURSORS = [
    _cursor('["\\ud800", "x"]'),  # decodes to a lone surrogate
    _cursor('["\\ud800"]'),
    _cursor("[1e308, 1180591620717411303424]"),
    _cursor('["9999-12-31T23:59:59-14:00", "x"]'),
    _cursor("[" * 150 + "]" * 150),
    _cursor("\udcff"),
]
QUERY_VALUES = [
    "",
    "\x00",
    "2" + "0" * 30,
    str(2**63),
    "-1",
    "NaN",
    "1e308",
    "0001-01-01T00:00:00+14:00",
    "x" * 3000,
    *FORGED_CURSORS,
]


@dataclass(frozen=True)
class Baseline:
    """A valid request to one route; `body` and `query` values are what gets replaced."""

    method: str
    path: str
    body: Any = None
    query: dict[str, str] = field(default_factory=dict)

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"


def _state(type_: str, **details: Any) -> dict:
    return {"type": type_, "name": type_.title(), "message": "m", "state_details": details}


_POLICY = {"retries": 2, "retry_delay_seconds": [1.5, 3], "retry_jitter_factor": 0.5}
_RESULT = {"storage": "file:///tmp/results", "key": "k", "serializer": "json"}
_DEPLOYMENT = {
    "flow_name": "hostile",
    "name": "prod",
    "entrypoint": "flows.py:hostile",
    "storage": {"type": "local", "url": "/srv/flows"},
    "parameters": {"x": 1, "nested": {"y": [1, "s"]}},
    "parameter_schema": {"type": "object", "properties": {"x": {"type": "integer"}}},
    "tags": ["t"],
    "work_queue_name": "hq",
    "schedules": [
        {"type": "cron", "cron": "0 9 * * *", "timezone": "Europe/Berlin"},
        {"type": "interval", "interval_seconds": 3600, "anchor_date": TIME, "timezone": "UTC"},
        {"type": "rrule", "rrule": "FREQ=DAILY;BYHOUR=9"},
    ],
    "triggers": [{"type": "api", "match": {"source": ["uploads"]}, "parameter": "event"}],
    "description": "d",
    "version": "1",
    "retries": 1,
    "retry_delay_seconds": [10],
}

BASELINES = [
    Baseline("POST", "/api/flows", {"name": "hostile-flow"}),
    Baseline("GET", "/api/flows"),
    Baseline(
        "POST",
        "/api/flow_runs",
        {
            "flow_name": "hostile-flow",
            "name": "n",
            "parameters": {"x": 1, "nested": {"y": [1, "s"]}},
            "tags": ["t"],
            "flow_version": "v",
            "empirical_policy": _POLICY,
            "state": _state("SCHEDULED", scheduled_time=TIME, cache_key="k", cache_expiration=TIME, pause_timeout=TIME),
            "work_queue_name": "hq",
            "deployment_name": "hostile/prod",
            "labels": {"k": "v"},
        },
    ),
    Baseline(
        "POST",
        "/api/flow_runs",
        {
            "flow_name": "hostile-running",
            "empirical_policy": _POLICY,
            "state": _state("RUNNING"),
            "heartbeat_interval": 10,
        },
    ),
    Baseline(
        "POST",
        "/api/task_runs",
        {
            "flow_run_id": RUN,
            "task_key": "k",
            "name": "n",
            "dynamic_key": "0",
            "tags": ["t"],
            "task_inputs": {"x": [{"input_type": "task_run", "id": TASK}]},
            "empirical_policy": _POLICY,
            "state": _state("RUNNING", cache_key="ck", cache_expiration=TIME),
        },
    ),
    Baseline("GET", "/api/flow_runs", query={"flow_name": "f", "state_type": "RUNNING", "tag": "t", "limit": "5"}),
    Baseline("GET", "/api/flow_runs", query={"deployment_name": "a/b", "since": TIME, "until": TIME, "cursor": "x"}),
    Baseline("GET", f"/api/flow_runs/{RUN}"),
    Baseline("GET", f"/api/flow_runs/{RUN}/summary"),
    Baseline("GET", f"/api/flow_runs/{RUN}/states"),
    Baseline(
        "GET",
        f"/api/flow_runs/{RUN}/logs",
        query={"limit": "10", "offset": "0", "min_level": "0", "newest_first": "true"},
    ),
    Baseline("POST", f"/api/flow_runs/{RUN}/heartbeat", query={"interval": "10"}),
    Baseline(
        "POST",
        f"/api/flow_runs/{RUN}/resume",
        {"run_input": {"name": "n", "nested": {"y": [1, "s"]}}, "idempotency_key": "ik"},
    ),
    Baseline("POST", f"/api/task_runs/{TASK}/heartbeat", query={"interval": "10"}),
    Baseline(
        "POST",
        "/api/task_runs/batch",
        {
            "flow_run_id": RUN,
            "reports": [
                {
                    "op": "create",
                    "task_run": {
                        "id": TASK,
                        "flow_run_id": RUN,
                        "task_key": "k",
                        "name": "n",
                        "dynamic_key": "0",
                        "tags": ["t"],
                        "empirical_policy": _POLICY,
                        "state": _state("RUNNING"),
                    },
                },
                {"op": "set_state", "task_run_id": TASK, "state": {**_state("COMPLETED"), "idempotency_key": "ik"}},
            ],
        },
    ),
    Baseline(
        "GET",
        f"/api/flow_runs/{RUN}/logs",
        query={"task_run_id": TASK, "contains": "x", "after": TIME, "after_id": RUN, "before": TIME},
    ),
    Baseline("GET", f"/api/task_runs/{TASK}/logs", query={"limit": "5", "contains": "x", "before": TIME}),
    Baseline("GET", "/api/flow_runs", query={"name_contains": "n", "flow_contains": "f", "sort": "oldest"}),
    Baseline(
        "GET",
        "/api/flow_runs/stats",
        query={"since": TIME, "until": TIME, "bucket_seconds": "3600", "flow_name": "f", "deployment_name": "a/b"},
    ),
    Baseline("GET", "/api/flow_runs/upcoming", query={"flow_name": "f", "deployment_name": "a/b", "limit": "5"}),
    Baseline("GET", "/api/flows/summary"),
    Baseline("GET", "/api/work_queue_status"),
    Baseline("GET", "/api/deployments/hostile/prod/schedule"),
    Baseline("POST", f"/api/flow_runs/{RUN}/retry"),
    Baseline("PUT", "/api/saved_views/hostile-view", {"query": "state:failed"}),
    Baseline("GET", "/api/saved_views"),
    Baseline("DELETE", "/api/saved_views/hostile-view"),
    Baseline("GET", f"/api/task_runs/{TASK}"),
    Baseline("GET", f"/api/task_runs/{TASK}/states"),
    Baseline(
        "POST",
        "/api/logs",
        [
            {
                "flow_run_id": RUN,
                "task_run_id": TASK,
                "name": "n",
                "level": 20,
                "message": "m",
                "timestamp": TIME,
            }
        ],
    ),
    Baseline("POST", "/api/concurrency_limits", {"tag": "ht", "limit": 3}),
    Baseline("GET", "/api/concurrency_limits/ht"),
    Baseline("GET", "/api/concurrency_limits"),
    Baseline("POST", "/api/api_keys", {"name": "k"}),
    Baseline("GET", "/api/api_keys"),
    Baseline("DELETE", "/api/api_keys/unknown-key"),
    Baseline("PUT", "/api/settings/result-storage", {"url": "s3://bucket/prefix"}),
    Baseline("GET", "/api/settings/result-storage"),
    Baseline("POST", "/api/deployments", _DEPLOYMENT),
    Baseline("GET", "/api/deployments"),
    Baseline("GET", "/api/deployments/hostile/prod"),
    Baseline("POST", "/api/deployments/hostile/prod/pause_schedule"),
    Baseline("POST", "/api/deployments/hostile/prod/resume_schedule"),
    Baseline(
        "POST",
        "/api/deployments/hostile/prod/runs",
        {"parameters": {"x": 2}, "idempotency_key": "ik", "scheduled_time": TIME, "tags": ["t"]},
    ),
    Baseline(
        "POST",
        "/api/work_queues",
        {"name": "hq", "concurrency_limit": 5, "priority": 2, "paused": False, "deployments": ["a/b"], "tags": ["t"]},
    ),
    Baseline("GET", "/api/work_queues"),
    Baseline("GET", "/api/work_queues/hq"),
    Baseline("PATCH", "/api/work_queues/hq", {"concurrency_limit": 4, "priority": 3, "paused": False}),
    Baseline("POST", "/api/work_queues/hq/get_runs", query={"limit": "5"}),
    Baseline(
        "POST",
        "/api/events",
        {"id": "e1", "source": "uploads", "detail_type": "t", "detail": {"key": "a.csv"}, "time": TIME},
    ),
    Baseline("GET", "/api/retry_policies"),
    Baseline(
        "PUT",
        "/api/retry_policies/flow/hostile-flow",
        {"retries": 2, "retry_delay_seconds": [1, 2], "retry_jitter_factor": 0.5},
    ),
    Baseline("GET", "/api/retry_policies/flow/hostile-flow"),
    Baseline("DELETE", "/api/retry_policies/tag/none-such"),
    Baseline("DELETE", "/api/concurrency_limits/none-such"),
    Baseline("DELETE", "/api/deployments/hostile/gone"),
    Baseline("DELETE", "/api/settings/result-storage"),
    Baseline("GET", "/api/health"),
]
for _kind in ("flow_runs", "task_runs"):
    _target = RUN if _kind == "flow_runs" else TASK
    for _proposal in (
        _state("SCHEDULED", scheduled_time=TIME),
        _state("PAUSED", pause_timeout=TIME),
        _state("PAUSED", pause_key="pause-0", run_input_schema={"type": "object", "required": ["name"]}),
        _state("RUNNING", cache_key="ck", cache_expiration=TIME),
        _state("RUNNING", run_input={"name": "n"}, reenters=RUN),
        {**_state("COMPLETED", cache_key="ck", cache_expiration=TIME), "data": _RESULT},
        _state("FAILED"),
    ):
        _body = {"state": _proposal, "force": False, "labels": {"a": "b"}}
        if _proposal["type"] == "RUNNING" and _kind == "flow_runs":
            _body["heartbeat_interval"] = 10  # the run's lease on its slots
        BASELINES.append(Baseline("POST", f"/api/{_kind}/{_target}/set_state", _body))


@dataclass(frozen=True)
class Case:
    """One hostile request: `body` is the JSON text to send (None: no body)."""

    method: str
    path: str
    body: str | None
    query: dict[str, str]
    label: str
    route: str
    kind: str = "other"  # what the hostile value is: time, number, text, nesting, path, query, other


def _kind(value: Any) -> tuple[str, list[Any]]:
    """The hostile values for a field whose valid value is `value`, and their kind."""
    if isinstance(value, bool):
        return "other", [*BOOLS, None]
    if isinstance(value, int | float):
        return "number", [*HUGE_NUMBERS, None]
    if isinstance(value, str):
        return ("time", [*TIMES, None]) if value == TIME else ("text", [*TEXTS, None])
    if isinstance(value, list):
        return "nesting", [*LISTS, None]
    if isinstance(value, dict):
        return "nesting", [*OBJECTS, None]
    return "other", ANYTHING


def _fields(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """Every (path, value) in a JSON value: leaves and containers alike (the root excluded)."""
    if path:
        yield path, value
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _fields(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _fields(child, (*path, index))


def _replaced(value: Any, path: tuple, new: Any) -> Any:
    copy = json.loads(json.dumps(value))
    target = copy
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = new
    return copy


def dump(value: Any) -> str:
    """JSON text with `Raw` values spliced in (lone surrogates as escapes, NaN as a literal)."""
    raws: list[Raw] = []

    def mark(item: Any) -> Any:
        if isinstance(item, Raw):
            raws.append(item)
            return f"@@raw{len(raws) - 1}@@"
        if isinstance(item, dict):
            return {k: mark(v) for k, v in item.items()}
        if isinstance(item, list):
            return [mark(v) for v in item]
        return item

    text = json.dumps(mark(value))
    return re.sub(r'"@@raw(\d+)@@"', lambda m: raws[int(m.group(1))].text, text)


def cases(baselines: list[Baseline] = BASELINES) -> Iterator[Case]:
    """The corpus: for each baseline, each field replaced by each hostile value of its kind."""
    for base in baselines:
        body = base.body
        for path, original in _fields(body) if body is not None else ():
            kind, values = _kind(original)
            for hostile in values:
                label = f"{base.route} body.{_dotted(path)} = {hostile!r:.80}"
                yield Case(
                    base.method, base.path, _replace_raw(body, path, hostile), base.query, label, base.route, kind
                )
        if body is not None:
            for hostile in [
                *DEEP[:2],
                Raw("{", "<truncated JSON>"),
                Raw('"x"', "<a bare string>"),
                Raw("null", "null"),
            ]:
                label = f"{base.route} body = {hostile!r}"
                yield Case(base.method, base.path, hostile.text, base.query, label, base.route, "nesting")
        plain = dump(body) if body is not None else None
        for name in base.query:
            for hostile in QUERY_VALUES:
                query = {**base.query, name: hostile}
                label = f"{base.route} query.{name} = {hostile!r:.80}"
                yield Case(base.method, base.path, plain, query, label, base.route, "query")
        segments = base.path.split("/")
        for index, segment in enumerate(segments):
            if index < 3 or not segment:  # '', 'api', the entity: the route itself
                continue
            for hostile in PATH_SEGMENTS:
                path = "/".join([*segments[:index], hostile, *segments[index + 1 :]])
                label = f"{base.route} path[{index}] = {hostile!r:.80}"
                yield Case(base.method, path, plain, base.query, label, base.route, "path")


def generic_cases(method: str, path: str) -> Iterator[Case]:
    """For a route no baseline knows: hostile path segments (each `{param}`) and hostile bodies."""
    route = f"{method} {path}"
    filled = re.sub(r"\{[^}]+\}", "x", path)
    for hostile in PATH_SEGMENTS:
        yield Case(
            method, re.sub(r"\{[^}]+\}", hostile, path), None, {}, f"{route} path = {hostile!r:.80}", route, "path"
        )
    if method in ("POST", "PUT", "PATCH"):
        for hostile in [*OBJECTS, *HUGE_NUMBERS[:6], *TEXTS[2:6]]:
            yield Case(method, filled, dump(hostile), {}, f"{route} body = {hostile!r:.80}", route, "other")


def _replace_raw(body: Any, path: tuple, hostile: Any) -> str:
    """The body as JSON text with the field at `path` replaced by `hostile` (Raw allowed)."""
    marker = "@@hostile@@"
    text = dump(_replaced(body, path, marker))
    value = hostile.text if isinstance(hostile, Raw) else dump(hostile)
    return text.replace(json.dumps(marker), value, 1)


def _dotted(path: tuple) -> str:
    return ".".join(str(part) for part in path)
