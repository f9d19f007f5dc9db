"""Log records carry client-made ids: a batch written again (the client retried after its
answer was lost) stores each line once, on every store."""

from __future__ import annotations

import uuid

from mintaka.schemas import LogCreate


def _ids(count: int) -> list[uuid.UUID]:
    """Ids as the SDK makes them: increasing within a process."""
    base = 1_700_000_000_000_000_000
    return [uuid.UUID(int=((base + i) << 64) | 12345) for i in range(count)]


def test_a_batch_written_twice_is_stored_once(store, new_flow_run, at):
    run = new_flow_run()
    batch = [LogCreate(id=i, flow_run_id=run.id, message=f"line {n}", timestamp=at(n)) for n, i in enumerate(_ids(3))]
    store.write_logs(batch)
    store.write_logs(batch)
    store.write_logs(batch[1:])
    logs = store.read_logs(run.id)
    assert [log.message for log in logs] == ["line 0", "line 1", "line 2"]
    assert [log.id for log in logs] == [log.id for log in batch]


def test_lines_with_ids_and_equal_timestamps_keep_their_order(store, new_flow_run, at):
    run = new_flow_run()
    store.write_logs(
        [LogCreate(id=i, flow_run_id=run.id, message=str(n), timestamp=at(0)) for n, i in enumerate(_ids(10))]
    )
    assert [log.message for log in store.read_logs(run.id)] == [str(n) for n in range(10)]


def test_lines_without_ids_are_all_kept(store, new_flow_run, at):
    run = new_flow_run()
    line = LogCreate(flow_run_id=run.id, message="same", timestamp=at(0))
    store.write_logs([line, line])
    store.write_logs([line])
    assert [log.message for log in store.read_logs(run.id)] == ["same"] * 3
