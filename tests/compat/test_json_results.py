"""`result_serializer="json"`: it encodes what pydantic's JSON encoder encodes (Prefect 2's
JSONSerializer does the same), writes readable JSON, and reads back the same Python types.
A value it cannot encode fails the run with an error naming the type; nothing is written."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import ipaddress
import json
import logging
import uuid
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import NamedTuple
from urllib.parse import urlparse

import pytest
from pydantic import BaseModel

from mintaka import flow, task
from mintaka.exceptions import MintakaError
from mintaka.results import LocalResultStore, read_result
from mintaka.schemas import FlowRunFilter
from mintaka.settings import get_settings
from mintaka.tasks import task_input_hash


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Reading(BaseModel):
    sensor: uuid.UUID
    at: dt.datetime
    value: Decimal
    raw: bytes = b""


@dataclasses.dataclass(frozen=True)
class Window:
    start: dt.date
    end: dt.date
    labels: frozenset[str] = frozenset()


class Point(NamedTuple):
    x: int
    y: float


SENSOR = uuid.UUID("12345678-1234-5678-1234-567812345678")
WHEN = dt.datetime(2024, 3, 1, 12, 30, 15, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))


def rich_value() -> dict:
    """One of everything the JSON serializer promises to round-trip, nested."""
    return {
        "when": WHEN,
        "naive": dt.datetime(2024, 3, 1, 8, 0),
        "day": dt.date(2024, 2, 29),
        "clock": dt.time(23, 59, 59, 1),
        "took": dt.timedelta(hours=1, microseconds=7),
        "amount": Decimal("1234.5600"),
        "id": SENSOR,
        "colour": Colour.BLUE,
        "level": Level.HIGH,
        "path": Path("/var/data/in.csv"),
        "pure": PurePosixPath("a/b"),
        "ip": ipaddress.ip_address("10.1.2.3"),
        "reading": Reading(sensor=SENSOR, at=WHEN, value=Decimal("0.1"), raw=b"ok"),
        "window": Window(dt.date(2024, 1, 1), dt.date(2024, 1, 31), frozenset({"q1"})),
        "pair": (1, "one"),
        "point": Point(3, 4.5),
        "unique": {3, 1, 2},
        "blob": b"\x00\xff binary",
        "mutable_blob": bytearray(b"abc"),
        "by_number": {1: "one", 2: "two"},
        "by_tuple": {(0, 0): "origin"},
        "nested": [[{"deep": (dt.date(2000, 1, 1), {Colour.RED})}]],
        "plain": {"ints": [1, 2], "float": 2.5, "none": None, "flag": True, "text": "é"},
    }


def assert_same(back, expected) -> None:
    """Equal, and of the same type all the way down (a tuple is not a list, a Decimal not a float)."""
    assert back == expected
    assert type(back) is type(expected), (back, expected)
    if isinstance(expected, dict):
        for key in expected:
            assert_same(back[key], expected[key])
    elif isinstance(expected, list | tuple):
        for b, e in zip(back, expected, strict=True):
            assert_same(b, e)
    elif isinstance(expected, dt.datetime | dt.time):
        assert back.utcoffset() == expected.utcoffset()


def stored_file(ref) -> Path:
    return Path(urlparse(ref.storage).path) / ref.key


def test_a_flow_returning_a_datetime_persists_it_and_reads_it_back(client):
    @flow(persist_result=True, result_serializer="json")
    def stamp():
        return WHEN

    state = stamp(return_state=True)
    assert state.is_completed()
    assert state.result() == WHEN
    stored = client.read_flow_run(state.state_details.flow_run_id).state
    assert stored.data is not None and stored.data.serializer == "json"
    back = read_result(stored.data)  # from the file, not from memory
    assert_same(back, WHEN)
    assert back.tzinfo == dt.timezone(dt.timedelta(hours=2))
    assert json.loads(stored_file(stored.data).read_text()) == {
        "__mintaka_type__": "datetime:datetime",
        "data": "2024-03-01T12:30:15.123456+02:00",
    }


def test_a_task_result_of_every_supported_type_round_trips_through_the_store(client):
    @task(persist_result=True, result_serializer="json")
    def produce():
        return rich_value()

    @flow
    def pipeline():
        return (produce(return_state=True),)

    [task_state] = pipeline()
    stored = client.read_task_run(task_state.state_details.task_run_id).state
    assert stored.data.serializer == "json"
    assert_same(read_result(stored.data), rich_value())
    # readable JSON: JSON's own values are written as they are
    on_disk = json.loads(stored_file(stored.data).read_text(encoding="utf-8"))
    assert on_disk["plain"] == {"ints": [1, 2], "float": 2.5, "none": None, "flag": True, "text": "é"}
    assert on_disk["amount"] == {"__mintaka_type__": "decimal:Decimal", "data": "1234.5600"}


def test_a_cached_result_comes_back_from_the_store_with_its_types(client):
    calls = []

    @task(cache_key_fn=task_input_hash, persist_result=True, result_serializer="json")
    def measure(n: int):
        calls.append(n)
        return {"reading": Reading(sensor=SENSOR, at=WHEN, value=Decimal(n)), "window": (dt.date(2024, 1, n),)}

    @flow
    def twice():
        return (measure(5, return_state=True),)

    [first] = twice()
    [second] = twice()
    assert calls == [5]
    assert second.name == "Cached"
    assert not second._has_result  # nothing in memory: read from the result store
    value = second.result()
    assert_same(value, {"reading": Reading(sensor=SENSOR, at=WHEN, value=Decimal(5)), "window": (dt.date(2024, 1, 5),)})
    assert_same(value, first.result())


def test_an_unencodable_result_fails_the_run_naming_the_type_and_writes_nothing(client):
    class Handle:  # e.g. an open connection
        pass

    @task(persist_result=True, result_serializer="json")
    def opens():
        return {"rows": [1, 2], "conn": [Handle()]}

    seen = []

    @flow
    def pipeline():
        seen.append(opens(return_state=True))
        return "done"

    pipeline(return_state=True)
    [state] = seen
    assert state.type.value == "FAILED"
    with pytest.raises(MintakaError, match="cannot encode a value of type"):
        state.result()
    task_run = client.read_task_run(state.state_details.task_run_id)
    assert task_run.state.name == "Failed"
    assert "Handle" in task_run.state.message and "result['conn'][0]" in task_run.state.message
    results = get_settings().results_path
    assert not results.exists() or not any(results.iterdir())


def test_a_flow_whose_result_cannot_be_encoded_ends_failed_after_its_body_ran(client):
    """The run ends (never left RUNNING) and says why. Prefect 2.20 reports it CRASHED and raises
    to the caller; FAILED with the message, and the state returned, is as good or better."""
    ran = []

    @flow(persist_result=True, result_serializer="json")
    def returns_a_lock():
        import threading

        ran.append(1)
        return threading.Lock()

    try:
        state = returns_a_lock(return_state=True)
    except MintakaError as exc:
        assert "_thread.lock" in str(exc)
    else:
        assert state.type.value == "FAILED"
        with pytest.raises(MintakaError, match="cannot encode a value of type"):
            state.result()
    assert ran == [1]
    [record] = client.list_flow_runs(FlowRunFilter(flow_name="returns-a-lock")).items
    assert record.state.type.value in ("FAILED", "CRASHED")
    assert "_thread.lock" in record.state.message and "result_serializer='json'" in record.state.message
    results = get_settings().results_path
    assert not results.exists() or not any(results.iterdir())


@pytest.mark.parametrize(
    ("value", "named"),
    [
        (object(), "a value of type object."),
        ({"a": [1, object()]}, "object at result['a'][1]"),
        (Reading.model_construct(sensor=object()), "inside a test_json_results.Reading"),
    ],
)
def test_the_error_names_the_type_and_where_it_sits_before_anything_is_written(tmp_path, value, named):
    store = LocalResultStore(tmp_path / "results")
    with pytest.raises(MintakaError, match="result_serializer='json' cannot encode") as raised:
        store.write(value, "json")
    assert named in str(raised.value)
    assert not (tmp_path / "results").exists()


def test_a_container_holding_itself_is_refused(tmp_path):
    loop: list = []
    loop.append(loop)
    with pytest.raises(MintakaError, match="contains itself"):
        LocalResultStore(tmp_path).write(loop, "json")


def test_a_type_that_cannot_be_imported_on_read_comes_back_as_its_json_form(tmp_path, caplog):
    @dataclasses.dataclass
    class Local:  # defined in a function: no importable name
        when: dt.date

    store = LocalResultStore(tmp_path)
    ref = store.write([Local(dt.date(2024, 1, 1))], "json")
    # Once the SDK has set up logging the `mintaka` logger stops propagating to the root
    # (where caplog listens), so listen on the module's logger itself.
    results_logger = logging.getLogger("mintaka.results")
    results_logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.WARNING, logger="mintaka.results"):
            assert store.read(ref.key, "json") == [{"when": dt.date(2024, 1, 1)}]
    finally:
        results_logger.removeHandler(caplog.handler)
    assert "cannot be rebuilt" in caplog.text


def test_plain_json_written_before_tags_existed_still_reads(tmp_path):
    (tmp_path / "old").write_text('{"a": [1, 2, {"b": null}]}')
    assert LocalResultStore(tmp_path).read("old", "json") == {"a": [1, 2, {"b": None}]}


def test_a_user_dict_that_looks_like_a_tag_is_not_mistaken_for_one(tmp_path):
    value = {"__mintaka_type__": "datetime:datetime", "data": "2024-01-01T00:00:00"}
    store = LocalResultStore(tmp_path)
    assert_same(store.read(store.write(value, "json").key, "json"), value)
