"""Sort orders for `read_flow_runs`, Prefect 2's names."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from mintaka_core.schemas import FlowRun

_EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC)


class FlowRunSort(StrEnum):
    ID_DESC = "ID_DESC"
    START_TIME_ASC = "START_TIME_ASC"
    START_TIME_DESC = "START_TIME_DESC"
    EXPECTED_START_TIME_ASC = "EXPECTED_START_TIME_ASC"
    EXPECTED_START_TIME_DESC = "EXPECTED_START_TIME_DESC"
    NAME_ASC = "NAME_ASC"
    NAME_DESC = "NAME_DESC"
    NEXT_SCHEDULED_START_TIME_ASC = "NEXT_SCHEDULED_START_TIME_ASC"
    END_TIME_DESC = "END_TIME_DESC"

    def key(self) -> tuple[Callable[[FlowRun], Any], bool]:
        """(sort key, descending)."""
        field, _, direction = self.value.rpartition("_")
        getters: dict[str, Callable[[FlowRun], Any]] = {
            "ID": lambda run: str(run.id),
            "START_TIME": lambda run: run.start_time or _EARLIEST,
            "EXPECTED_START_TIME": lambda run: run.expected_start_time or _EARLIEST,
            "NEXT_SCHEDULED_START_TIME": lambda run: run.expected_start_time or _EARLIEST,
            "NAME": lambda run: run.name,
            "END_TIME": lambda run: run.end_time or _EARLIEST,
        }
        return getters[field], direction == "DESC"


__all__ = ["FlowRunSort"]
