"""Typed input for paused flow runs, as Prefect 2.20's `prefect.input`: `RunInput` and the
helpers `pause_flow_run(wait_for_input=...)` and `suspend_flow_run(wait_for_input=...)` use.
(Prefect's `send_input` / `receive_input` between running flows are not offered.)"""

from .run_input import (
    AutomaticRunInput,
    Keyset,
    RunInput,
    RunInputMetadata,
    keyset_from_base_key,
    keyset_from_paused_state,
    run_input_subclass_from_type,
)

__all__ = [
    "AutomaticRunInput",
    "Keyset",
    "RunInput",
    "RunInputMetadata",
    "keyset_from_base_key",
    "keyset_from_paused_state",
    "run_input_subclass_from_type",
]
