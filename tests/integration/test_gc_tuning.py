"""A serving process collects young objects rarely and never looks at what startup built, and
still collects the cycles it makes (each check in a fresh interpreter: the test process keeps
its own collector settings)."""

from __future__ import annotations

import json
import subprocess
import sys

from mintaka_server.gc_tuning import SERVING_GEN0_THRESHOLD

_TUNED = """
import gc, json, weakref
from mintaka_server.gc_tuning import tune_for_serving
before = gc.get_threshold()
tune_for_serving()
class Node: pass
a, b = Node(), Node()
a.other, b.other = b, a
alive = weakref.ref(a)
del a, b
gc.collect()
print(json.dumps({"before": before, "after": gc.get_threshold(), "frozen": gc.get_freeze_count(),
                  "cycle_collected": alive() is None}))
"""

# `mintaka server start` up to the point it would serve: uvicorn.run reports the collector instead.
_SERVER_START = """
import gc, json, sys, uvicorn
uvicorn.run = lambda *a, **k: print(json.dumps({"gen0": gc.get_threshold()[0], "frozen": gc.get_freeze_count()}))
from mintaka.cli._app import app
sys.argv = ["mintaka", "server", "start", "--port", "0", "--scheduler-interval", "0", "--store", "sqlite"]
app()
"""


def _run(code: str, **env: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env or None)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_tuning_raises_the_young_threshold_freezes_startup_and_still_collects_cycles():
    seen = _run(_TUNED)
    assert seen["before"][0] < SERVING_GEN0_THRESHOLD  # CPython's default is 700
    assert seen["after"] == [SERVING_GEN0_THRESHOLD, *seen["before"][1:]]
    assert seen["frozen"] > 1000  # the imports' objects
    assert seen["cycle_collected"]


def test_server_start_serves_with_the_tuned_collector(tmp_path):
    import os

    env = {**os.environ, "MINTAKA_HOME": str(tmp_path)}
    env.pop("MINTAKA_API_URL", None)
    seen = _run(_SERVER_START, **env)
    assert seen["gen0"] == SERVING_GEN0_THRESHOLD
    assert seen["frozen"] > 1000
