"""The dashboard in a real browser over a SQLite store holding 100,000 flow runs.

    python benchmarks/dashboard_paint.py [--runs 100000] [--repeat 5] [--db PATH] [--busy N]

Seeds the runs as benchmarks/dashboard.py does (a `--db` file already holding them is reused),
adds deployments, work queues and a concurrency limit through the API, serves the real API and
UI with uvicorn, and drives Debian's Chromium with Playwright (as the browser tests do). Prints:

- first meaningful paint of the dashboard: the time from navigation start until the counts per
  state and the activity chart are on screen (the frame after both are in the page), cold (a new
  browser context: empty cache) and warm (a reload in the same context), with first contentful
  paint beside it;
- every list page: opened cold by URL in a new context, and warm by following its link in an
  already loaded dashboard (its work queues and next runs shown, half a second later), timed
  until its table (or its empty message) is on screen.

Median and worst of `--repeat` tries each. Targets: paint <= 1 s, every list page <= 300 ms.
`--busy N` keeps N processes spinning on the CPU meanwhile (a machine busy with other work; the
load average is printed before and after).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent / "tests"))

from dashboard import FLOWS, RARE, seed, serving  # noqa: E402
from support.browser import CHROMIUM, LAUNCH_ARGS  # noqa: E402

from mintaka_server.api import create_app  # noqa: E402
from mintaka_server.services import OrchestrationService  # noqa: E402
from mintaka_server.storage.sqlite import SQLiteStore  # noqa: E402

# Marks in the page, from navigation start (performance.now()): `ready` is the frame after the
# dashboard's counts and chart are both in the document; `fcp` the browser's first contentful paint.
MARKS = """
window.__marks = {};
const loaded = () => document.querySelector('.counts .count-value') && document.querySelector('.chart-canvas canvas');
new MutationObserver(() => {
  const m = window.__marks;
  if (!m.dom && loaded()) {
    m.dom = performance.now();
    requestAnimationFrame(() => { m.ready = performance.now(); });
  }
}).observe(document, { childList: true, subtree: true });
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (e.name === 'first-contentful-paint') window.__marks.fcp = e.startTime;
}).observe({ type: 'paint', buffered: true });
"""

# A list page is on screen when its table has a row (or it says it is empty) and nothing loads.
IS_SHOWN = """(selector) => {
  const loading = [...document.querySelectorAll('main p[role=status]')].some((p) => p.textContent === 'Loading…');
  return !loading && document.querySelector(selector) !== null;
}"""
SHOWN = f"([selector]) => ({IS_SHOWN})(selector)"

# The dashboard with everything it shows (after its counts and chart: work queues and next runs).
SETTLED = """() => document.querySelector('table[aria-label="Work queues"]') !== null
  && (document.querySelector('table[aria-label="Next runs"]') !== null
      || [...document.querySelectorAll('p.empty')].some((p) => p.textContent === 'Nothing scheduled.'))"""

# Follows a link inside the loaded app and times until `selector` is on screen (the next frame).
FOLLOW = """async ([hash, selector]) => {
  const shown = () => (IS_SHOWN)(selector);
  const start = performance.now();
  location.hash = hash;
  await new Promise((resolve) => {
    const observer = new MutationObserver(() => { if (shown()) { observer.disconnect(); resolve(); } });
    observer.observe(document.getElementById('app'), { childList: true, subtree: true, characterData: true });
  });
  await new Promise((resolve) => requestAnimationFrame(resolve));
  return performance.now() - start;
}""".replace("IS_SHOWN", IS_SHOWN)


def list_pages(run_id: str) -> list[tuple[str, str, str]]:
    """(label, hash route, what is on screen when it is shown)."""
    runs = 'table[aria-label="Flow runs"] tbody tr, main p.empty'
    return [
        ("flow runs", "#/runs", runs),
        ("flow runs: failed", "#/runs?state=FAILED&state=CRASHED", runs),
        ("flow runs: a flow", f"#/runs?flow={FLOWS[3]}", runs),
        ("flow runs: tag", "#/runs?tag=nightly", runs),
        ("flow runs: name search", "#/runs?name=quiet-otter", runs),
        ("flow runs: rare name", f"#/runs?name={RARE}", runs),
        ("flows", "#/flows", 'table[aria-label="Flows"] tbody tr'),
        ("deployments", "#/deployments", 'table[aria-label="Deployments"] tbody tr'),
        ("work queues", "#/work-queues", 'table[aria-label="Work queues"] tbody tr'),
        ("concurrency limits", "#/concurrency-limits", 'table[aria-label="Concurrency limits"] tbody tr'),
        ("a flow run", f"#/runs/{run_id}", 'ol[aria-label="State history"]'),
    ]


def add_objects(api: str) -> None:
    """What the other list pages show: deployments, work queues, a concurrency limit."""
    with httpx.Client(base_url=api, timeout=60) as client:
        if client.get("/deployments").json():
            return  # a reused --db file has them
        for flow in FLOWS[:5]:
            client.post(
                "/deployments",
                json={
                    "flow_name": flow,
                    "name": "prod",
                    "entrypoint": "flows/etl.py:etl",
                    "storage": {"type": "local", "url": "/srv/flows"},
                    "work_queue_name": "default",
                },
            ).raise_for_status()
        for queue in ("default", "nightly"):
            client.post("/work_queues", json={"name": queue}).raise_for_status()
        client.post("/concurrency_limits", json={"tag": "prod", "limit": 10}).raise_for_status()


def summary(samples: list[float]) -> str:
    return f"{statistics.median(samples):10.0f} {max(samples):8.0f}"


def flag(samples: list[float], target: float) -> str:
    return "" if max(samples) <= target else f"  > {target:.0f} ms"


def measure(url: str, repeat: int, run_id: str) -> None:
    from playwright.sync_api import sync_playwright

    dashboard = f"{url}/ui/"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        cold, warm, fcp_cold, fcp_warm = [], [], [], []
        for _ in range(repeat):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.add_init_script(MARKS)
            page = context.new_page()
            for samples, fcps in ((cold, fcp_cold), (warm, fcp_warm)):
                page.goto(dashboard) if samples is cold else page.reload()
                page.wait_for_function("window.__marks.ready !== undefined", timeout=30_000)
                marks = page.evaluate("window.__marks")
                samples.append(marks["ready"])
                fcps.append(marks.get("fcp", float("nan")))
            context.close()
        print(f"\n{'dashboard, first meaningful paint':40} {'median ms':>10} {'max ms':>8}")
        print(f"{'  cold (empty cache)':40} {summary(cold)}{flag(cold, 1000)}")
        print(f"{'  warm (reload)':40} {summary(warm)}{flag(warm, 1000)}")
        print(f"{'  first contentful paint, cold':40} {summary(fcp_cold)}")
        print(f"{'  first contentful paint, warm':40} {summary(fcp_warm)}")

        print(f"\n{'list page':40} {'cold med':>10} {'max':>8} {'warm med':>10} {'max':>8}")
        for label, route, selector in list_pages(run_id):
            cold, warm = [], []
            for _ in range(repeat):
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                page = context.new_page()
                page.goto(f"{dashboard}{route}")
                page.wait_for_function(SHOWN, arg=[selector], timeout=30_000)
                cold.append(page.evaluate("performance.now()"))
                page.goto(f"{dashboard}#/")  # then in the loaded app: leave and come back by link
                page.wait_for_function(SETTLED, timeout=30_000)
                page.wait_for_timeout(500)  # as a user reads before a click: the dashboard's first requests end
                warm.append(page.evaluate(FOLLOW, [route, selector]))
                context.close()
            print(f"{'  ' + label:40} {summary(cold)} {summary(warm)}{flag(warm, 300)}")
        browser.close()


def _spin() -> None:
    while True:
        pass


@contextlib.contextmanager
def busy(processes: int):
    """`processes` CPU-bound processes running until the block ends."""
    spinners = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(processes)]
    for spinner in spinners:
        spinner.start()
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.terminate()
            spinner.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--db", type=Path, default=None, help="SQLite file (reused when it holds the runs)")
    parser.add_argument("--busy", type=int, default=0, help="processes spinning on the CPU meanwhile")
    args = parser.parse_args()
    if CHROMIUM is None:
        sys.exit("Chromium is not installed (apt-get install chromium)")
    now = dt.datetime.now(dt.UTC)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "mintaka.db"
        store = SQLiteStore(path)
        held = store._read("SELECT COUNT(*) FROM flow_runs")[0][0]
        if held < args.runs:
            started = time.perf_counter()
            seed(store, args.runs - held, now)
            print(f"seeded {args.runs - held:,} runs in {time.perf_counter() - started:.1f} s")
        run_id = store._read("SELECT id FROM flow_runs ORDER BY created DESC LIMIT 1")[0][0]
        print(f"{held if held >= args.runs else args.runs:,} runs in {path}; load average {os.getloadavg()[0]:.1f}")
        with serving(create_app(OrchestrationService(store))) as url, busy(args.busy):
            add_objects(f"{url}/api")
            measure(url, args.repeat, run_id)
        print(f"\nload average after: {os.getloadavg()[0]:.1f} ({args.busy} spinning processes beside)")
        store.close()


if __name__ == "__main__":
    main()
