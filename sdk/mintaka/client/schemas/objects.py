"""The API's objects under Prefect 2's module name (`prefect.client.schemas.objects`)."""

from mintaka.schemas import ConcurrencyLimit, Flow, FlowRun, TaskRun
from mintaka.states import State, StateDetails, StateType

__all__ = ["ConcurrencyLimit", "Flow", "FlowRun", "State", "StateDetails", "StateType", "TaskRun"]
