"""Run ids are RFC 9562 version-7 UUIDs: ids made later sort later (by the millisecond), so a
flow's rows land side by side in the embedded store's indexes."""

from __future__ import annotations

import time

from mintaka._ids import new_id


def test_ids_are_version_7_with_the_rfc_variant_and_unique():
    ids = [new_id() for _ in range(10_000)]
    assert {i.version for i in ids} == {7}
    assert {i.variant for i in ids} == {"specified in RFC 4122"}
    assert len(set(ids)) == len(ids)


def test_an_id_made_a_millisecond_later_sorts_later_and_carries_its_time():
    first = new_id()
    time.sleep(0.002)
    second = new_id()
    assert str(first) < str(second)
    assert abs((second.int >> 80) - time.time_ns() // 1_000_000) < 1_000
