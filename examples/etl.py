"""An ETL flow: extract with a flaky source (retried), transform concurrently with .map,
load in a subflow, and report. Run it: `python examples/etl.py`."""

from __future__ import annotations

import random

from mintaka import flow, get_run_logger, task

_attempts = {"extract": 0}


@task(retries=2, retry_delay_seconds=0.1)
def extract(n: int) -> list[int]:
    """A source that fails on its first call, as real ones do."""
    _attempts["extract"] += 1
    if _attempts["extract"] == 1:
        raise ConnectionError("source timed out (this first failure is retried)")
    return list(range(1, n + 1))


@task
def transform(record: int) -> dict:
    return {"id": record, "square": record * record}


@task
def write_rows(rows: list[dict]) -> int:
    return len(rows)


@flow
def load(rows: list[dict]) -> int:
    """A subflow: its run is linked to the parent's."""
    written = write_rows(rows)
    get_run_logger().info("Loaded %d rows", written)
    return written


@flow(name="etl", log_prints=True)
def etl(n: int = 10) -> dict:
    records = extract(n)
    rows = transform.map(records).result()
    loaded = load(rows)
    total = sum(row["square"] for row in rows)
    print(f"Sum of squares of 1..{n}: {total}")
    return {"loaded": loaded, "sum_of_squares": total, "sample": random.choice(rows)}


if __name__ == "__main__":
    state = etl(10, return_state=True)
    print(f"result: {state.result()}")
    print(f"flow run id: {state.state_details.flow_run_id}")
