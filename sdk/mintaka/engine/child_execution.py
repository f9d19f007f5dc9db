"""Executing a deployed run in a child process, from a process that must stay responsive.

The Lambda worker is the one executor without a parent process: it ran flows in its own
process, so a task holding the GIL (a long regex, a C extension that never releases it)
silenced the heartbeat thread, the run was reaped as lost while it ran, and its slots were
given away. `execute_in_child` runs the flow in a child (`python -m mintaka.engine.child_execution
RUN_ID`, what `flow-run execute --inline` runs too; it needs no CLI package, which the Lambda
package leaves out) and heartbeats for it from this process (`supervise_flow_run`), which user
code cannot block.

The child gets what it needs through its environment: the API to report to (URL and key), the
claim token the launcher took, how long it may start tasks (its share of the invocation's
deadline), and a file to write its `Execution` to; a child that dies before writing it (killed,
out of memory) leaves the run CRASHED, and the answer is the run's state as the API has it.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from mintaka.exceptions import MintakaError
from mintaka.states import State

from .deadline import execution_deadline, seconds_left
from .deployed import CLAIM_ENV, Execution, execute_flow_run, supervise_flow_run

if TYPE_CHECKING:
    from mintaka.client import MintakaClient

DEADLINE_ENV = "MINTAKA_EXECUTION_DEADLINE"  # seconds from the child's start it may start tasks
REPORT_ENV = "MINTAKA_EXECUTION_REPORT"  # where the child writes its Execution (JSON)


def execute_in_child(
    run_id: uuid.UUID,
    client: MintakaClient,
    *,
    api_url: str,
    api_key: str | None = None,
    claim: str | None = None,
) -> Execution:
    """Run the deployed run in a child process reporting to `api_url`; beat for it from here."""
    with tempfile.TemporaryDirectory(prefix="mintaka-execution-") as scratch:
        report = Path(scratch) / "execution.json"
        env = child_environment(api_url, api_key, claim, report)
        code = supervise_flow_run(run_id, child_command(run_id), client, env=env)
        if report.exists():
            return read_execution(run_id, report)
    run = client.read_flow_run(run_id)
    return Execution(run_id, run.state, f"Flow run {run_id}: its process ended with code {code} before reporting")


def child_command(run_id: uuid.UUID) -> list[str]:
    """The command that runs `run_here(run_id)` in a new Python process."""
    return [sys.executable, "-m", "mintaka.engine.child_execution", str(run_id)]


def child_environment(api_url: str, api_key: str | None, claim: str | None, report: Path) -> dict[str, str]:
    """This process's environment, with the API, the claim, the deadline and the report file.
    `PYTHONPATH` carries this process's import path (a Lambda's task root is not on the default one)."""
    env = dict(os.environ)
    env.update(MINTAKA_API_URL=api_url, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    env[REPORT_ENV] = str(report)
    if api_key:
        env["MINTAKA_API_KEY"] = api_key
    if claim:
        env[CLAIM_ENV] = claim
    left = seconds_left()
    if left is not None:
        env[DEADLINE_ENV] = f"{max(left, 0.0):.3f}"
    else:
        env.pop(DEADLINE_ENV, None)
    return env


def deadline_from(env: Mapping[str, str]) -> float | None:
    """The deadline a supervising process passed (None: no deadline)."""
    value = env.get(DEADLINE_ENV)
    return float(value) if value else None


def write_execution(execution: Execution, env: Mapping[str, str]) -> None:
    """In the child: leave the outcome where the supervising process reads it (if it asked)."""
    path = env.get(REPORT_ENV)
    if not path:
        return
    state = execution.state.model_dump(mode="json") if execution.state is not None else None
    document = {"state": state, "message": execution.message, "cancelled": execution.cancelled}
    Path(path).write_text(json.dumps(document))


def read_execution(run_id: uuid.UUID, report: Path) -> Execution:
    document = json.loads(report.read_text())
    state = State.model_validate(document["state"]) if document["state"] is not None else None
    return Execution(run_id, state, document["message"], cancelled=document["cancelled"])


def run_here(run_id: uuid.UUID) -> int:
    """The child's side: execute the run in this process (within the deadline its supervisor
    passed), leave the outcome where the supervisor reads it, print what happened. Returns the
    exit code: 0 if it completed (or another executor has it), else 1."""

    _exit_on_sigterm()
    with execution_deadline(deadline_from(os.environ)):
        execution = execute_flow_run(run_id)
    write_execution(execution, os.environ)
    print(execution.message, flush=True)
    if execution.cancelled:
        # A cancelled task body may be stuck in a blocking call; its thread must not keep this
        # process (a worker's subprocess, a Fargate task) alive. Everything is reported already.
        sys.stderr.flush()
        os._exit(1)
    return 0 if execution.ok else 1


def _exit_on_sigterm() -> None:
    """SIGTERM (a worker cancelling, ECS stopping the task) unwinds like Ctrl-C: the engine
    reports the run CRASHED unless it was already cancelled."""

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def main(argv: list[str]) -> int:
    """`python -m mintaka.engine.child_execution RUN_ID`: errors as one line, as the CLI's."""

    try:
        return run_here(uuid.UUID(argv[0]))
    except (MintakaError, ValueError, IndexError) as exc:
        print(f"Error: {exc}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
