"""Result serializers by name or object; compressed results round-trip and stay small."""

from __future__ import annotations

import pytest

from mintaka import flow, task
from mintaka.exceptions import MintakaError
from mintaka.results import LocalResultStore
from mintaka.serializers import CompressedJSONSerializer, CompressedSerializer, serializer_name
from mintaka.testing import harness


@pytest.mark.parametrize(
    ("given", "name"),
    [
        ("pickle", "cloudpickle"),
        ("cloudpickle", "cloudpickle"),
        ("JSON", "json"),
        ("compressed/pickle", "compressed/cloudpickle:lzma"),
        ("compressed/json:zlib", "compressed/json:zlib"),
        (CompressedSerializer(serializer="pickle", compressionlib="bz2"), "compressed/cloudpickle:bz2"),
        (CompressedJSONSerializer("gzip"), "compressed/json:gzip"),
    ],
)
def test_names(given, name):
    assert serializer_name(given) == name


@pytest.mark.parametrize("bad", ["yaml", "compressed/yaml", "compressed/json:os", 42])
def test_unknown_serializers_are_refused_when_the_task_is_declared(bad):
    with pytest.raises(MintakaError, match=r"result serializer|result_serializer"):
        task(result_serializer=bad)(lambda: 1)


@pytest.mark.parametrize("name", ["compressed/cloudpickle:lzma", "compressed/json:zlib", "compressed/json:bz2"])
def test_compressed_results_round_trip_and_shrink(tmp_path, name):
    store = LocalResultStore(tmp_path)
    value = {"rows": ["same text"] * 2000}
    ref = store.write(value, name)
    assert ref.serializer == name
    assert store.read(ref.key, name) == value
    assert (tmp_path / ref.key).stat().st_size < 1000


def test_a_chosen_serializer_persists_the_result():
    @task(result_serializer="compressed/json")
    def numbers():
        return [1, 2, 3]

    @flow(result_serializer="compressed/pickle")
    def f():
        return numbers(return_state=True)

    with harness() as client:
        state = f(return_state=True)
        inner = state.result()
        assert inner.data is not None and inner.data.serializer == "compressed/json:lzma"
        assert client.read_task_run(inner.state_details.task_run_id).state.result() == [1, 2, 3]
        assert state.data is not None and state.data.serializer == "compressed/cloudpickle:lzma"
