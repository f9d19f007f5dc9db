"""The dashboard in a real headless Chromium (Playwright): runs made by real flows are listed and
filtered, a run's page shows its states, timeline, logs and tracebacks, the live tail grows while a
run runs, and the Cancel / Resume buttons move runs as a user's click should."""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from pathlib import Path

import httpx
import pytest
from support.browser import (  # noqa: F401
    SEED,
    browser,
    page,
    require_browser,
    run_flow_script,
    screenshot,
    screenshot_dir,
)

require_browser()

from playwright.sync_api import expect  # noqa: E402

TICKS = """
import time
from pathlib import Path
from mintaka import flow, task, get_run_logger

@task(tags=["database"])
def tick(i: int) -> int:
    get_run_logger().info("tick %d", i)
    time.sleep(0.3)
    return i

@flow
def ticking(n: int = 80) -> int:
    return sum(tick(i) for i in range(n))

ticking()
"""


@pytest.fixture
def seeded_server(mintaka_home, start_cli_server):
    """`mintaka server start` over a store with an ETL run (and its subflow `load`) and a failed run."""
    run_flow_script(mintaka_home, SEED)
    return start_cli_server()


def ui(server) -> str:
    return server.url.removesuffix("/api") + "/ui/"


def runs_of(server, flow: str) -> list[dict]:
    return httpx.get(f"{server.url}/flow_runs", params={"flow_name": flow}).json()["items"]


def test_runs_list_shows_runs_made_without_a_server_and_filters_them(seeded_server, page, screenshot_dir):  # noqa: F811
    page.goto(ui(seeded_server) + "#/runs")
    runs = page.get_by_role("table", name="Flow runs")
    expect(runs.get_by_role("row")).to_have_count(4)  # the header, etl, load, broken
    expect(runs.get_by_role("row", name=re.compile(r"\betl\b.*Completed"))).to_have_count(1)
    expect(runs.get_by_role("row", name=re.compile(r"\bload\b.*Completed"))).to_have_count(1)
    expect(runs.get_by_role("row", name=re.compile(r"\bbroken\b.*Failed"))).to_have_count(1)
    screenshot(page, screenshot_dir, "flow-runs")

    page.get_by_role("textbox", name="Flow", exact=True).fill("loa")  # a substring of the flow's name
    page.get_by_role("textbox", name="Flow", exact=True).press("Enter")
    expect(page).to_have_url(re.compile(r"flow=loa"))
    expect(runs.get_by_role("row")).to_have_count(2)
    expect(runs.get_by_role("link", name="load", exact=True)).to_be_visible()

    page.get_by_role("textbox", name="Flow", exact=True).fill("no-such-flow")
    page.get_by_role("textbox", name="Flow", exact=True).press("Enter")
    expect(page.get_by_text("No runs match these filters.")).to_be_visible()


def test_a_typed_query_filters_and_lives_in_the_url(seeded_server, page):  # noqa: F811
    page.goto(ui(seeded_server) + "#/runs")
    query = page.get_by_role("searchbox", name="Query")
    query.fill("state:failed since:7d")
    query.press("Enter")
    expect(page).to_have_url(re.compile(r"state=FAILED.*since=7d"))
    runs = page.get_by_role("table", name="Flow runs")
    expect(runs.get_by_role("row")).to_have_count(2)
    expect(runs.get_by_role("link", name="broken", exact=True)).to_be_visible()

    page.reload()  # the filters are in the URL: a reload (or a shared link) shows the same list
    expect(page.get_by_role("searchbox", name="Query")).to_have_value("state:failed since:7d")
    expect(runs.get_by_role("row")).to_have_count(2)

    query.fill("colour:blue")
    query.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text('Unknown filter "colour:"')


def test_run_page_shows_states_timeline_task_runs_and_logs(seeded_server, page, screenshot_dir):  # noqa: F811
    run = runs_of(seeded_server, "etl")[0]
    page.goto(ui(seeded_server) + f"#/runs/{run['id']}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Completed")
    history = page.get_by_role("list", name="State history")
    expect(history.get_by_role("listitem")).to_have_text([re.compile(n) for n in ("Pending", "Running", "Completed")])

    timeline = page.get_by_role("list", name="Timeline")
    expect(timeline.get_by_role("listitem")).to_have_count(12)  # extract, 10 transforms, load (the subflow)
    extract = timeline.get_by_role("listitem").filter(has_text="extract-0")
    expect(extract).to_contain_text("Completed")
    expect(extract).to_contain_text("2 attempts")  # its first call failed and was retried
    expect(timeline.get_by_role("link", name=re.compile(r"^transform-\d, Completed"))).to_have_count(10)

    logs = page.get_by_role("list", name="Log lines")
    expect(logs).to_contain_text("Sum of squares of 1..10: 385")
    expect(logs).to_contain_text("ConnectionError: source timed out")
    screenshot(page, screenshot_dir, "flow-run")

    page.get_by_label("Level").select_option("WARNING")
    expect(logs).not_to_contain_text("Sum of squares")
    expect(logs).to_contain_text("Retrying")
    page.get_by_label("Level").select_option("0")
    page.get_by_role("searchbox", name="Search logs").fill("sum of squares")
    expect(logs.get_by_role("listitem")).to_have_count(1)

    subflow = timeline.get_by_role("link", name=re.compile(r"^load-0 \(subflow\), Completed"))
    expect(subflow).to_have_attribute("href", f"#/runs/{runs_of(seeded_server, 'load')[0]['id']}")

    timeline.get_by_role("link", name=re.compile(r"^extract-0")).click()  # a task run has its own page
    expect(page.get_by_role("heading", level=1)).to_contain_text("extract-0")
    expect(page.get_by_role("list", name="State history")).to_contain_text("Retrying")
    expect(page.get_by_role("list", name="Log lines")).to_contain_text("source timed out")
    expect(page.get_by_role("list", name="Log lines")).not_to_contain_text("Sum of squares")
    screenshot(page, screenshot_dir, "task-run")


DIAMOND = """
from mintaka import flow, task

@task
def source() -> int:
    return 1

@task
def left(x: int) -> int:
    return x + 1

@task
def right(x: int) -> int:
    return x + 2

@task
def join(a: int, b: int) -> int:
    return a + b

@flow
def diamond() -> int:
    s = source.submit()
    return join.submit(left.submit(s), right.submit(s)).result()

diamond()
"""


def test_the_timeline_shows_what_each_task_run_waited_for(mintaka_home, start_cli_server, page, screenshot_dir):  # noqa: F811
    run_flow_script(mintaka_home, DIAMOND)
    server = start_cli_server()
    page.goto(ui(server) + f"#/runs/{runs_of(server, 'diamond')[0]['id']}")
    timeline = page.get_by_role("list", name="Timeline")

    def row(name):
        return timeline.get_by_role("listitem").filter(has=page.get_by_role("link", name=re.compile(f"^{name},")))

    expect(timeline.get_by_role("listitem")).to_have_count(4)
    expect(row("left-0")).to_contain_text("after source-0")
    expect(row("right-0")).to_contain_text("after source-0")
    expect(row("join-0")).to_contain_text(re.compile("after (left-0, right-0|right-0, left-0)"))
    expect(timeline.locator("svg.gantt-deps path")).to_have_count(4)  # source→left, source→right, left→join, right→join
    screenshot(page, screenshot_dir, "timeline-dependencies")


def test_a_failed_run_shows_why_with_its_traceback(seeded_server, page):  # noqa: F811
    run = runs_of(seeded_server, "broken")[0]
    page.goto(ui(seeded_server) + f"#/runs/{run['id']}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Failed")
    expect(page.locator(".message")).to_contain_text("RuntimeError")
    traceback = page.get_by_role("list", name="Log lines").get_by_role("listitem").filter(has_text="Traceback")
    expect(traceback).to_contain_text("Traceback (most recent call last):")
    expect(traceback).to_contain_text("raise RuntimeError(reason)")
    expect(traceback).to_contain_text("RuntimeError: the source is down")
    # The traceback keeps its lines: the frames read top to bottom, not run together.
    text = traceback.locator("pre").inner_text()
    assert text.index("Traceback") < text.index("deployable.py") < text.index("RuntimeError: the source is down")
    assert "\n" in text


CHATTY = """
from mintaka import flow, get_run_logger

@flow
def chatty(n: int = 450) -> None:
    for i in range(n):
        get_run_logger().info("line %03d", i)

chatty()
"""


def test_logs_page_through_every_line_both_ways(mintaka_home, start_cli_server, page):  # noqa: F811
    run_flow_script(mintaka_home, CHATTY)
    server = start_cli_server()
    run = runs_of(server, "chatty")[0]
    page.goto(ui(server) + f"#/runs/{run['id']}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Completed")
    expect(page.get_by_label("Live tail")).not_to_be_checked()  # a finished run pages
    logs = page.get_by_role("list", name="Log lines").get_by_role("listitem")
    expect(logs.filter(has_text="line 000")).to_have_count(1)
    for shown in ("lines 201 to 400", "lines 401 to 452"):  # 450 lines and the run's own two
        page.get_by_role("button", name="Next lines").click()
        expect(page.get_by_text(shown)).to_be_visible()
    expect(logs.filter(has_text="line 449")).to_have_count(1)
    expect(page.get_by_role("button", name="Next lines")).to_be_disabled()

    page.get_by_label("Order").select_option("newest")
    expect(page.get_by_text("lines 1 to 200")).to_be_visible()
    expect(logs.nth(0)).to_contain_text("Finished in state Completed")
    expect(logs.nth(1)).to_contain_text("line 449")


def test_the_live_tail_grows_while_a_run_runs(mintaka_home, start_cli_server, page):  # noqa: F811
    server = start_cli_server()
    httpx.post(f"{server.url}/concurrency_limits", json={"tag": "database", "limit": 2}).raise_for_status()
    process = run_flow_script(mintaka_home, TICKS, api_url=server.url, wait=False)
    try:
        deadline = time.monotonic() + 30
        while not (runs := runs_of(server, "ticking")) or runs[0]["state"]["type"] != "RUNNING":
            assert time.monotonic() < deadline and process.poll() is None, process.communicate()
            time.sleep(0.1)
        page.goto(ui(server) + f"#/runs/{runs[0]['id']}")
        expect(page.get_by_role("heading", level=1)).to_contain_text("Running")
        expect(page.get_by_label("Live tail")).to_be_checked()
        timeline = page.get_by_role("list", name="Timeline")
        expect(timeline.get_by_role("link", name=re.compile(r"^tick-0, Completed"))).to_be_visible()
        logs = page.get_by_role("list", name="Log lines")
        expect(logs).to_contain_text("tick 1")
        count = page.get_by_role("status", name="Log line count")
        first = int(count.inner_text().split()[0])
        expect(count).not_to_have_text(f"{first} lines", timeout=10_000)  # grew, no reload
        assert int(count.inner_text().split()[0]) > first
        assert process.poll() is None, "the run ended before the tail was seen to grow"

        page.goto(ui(server) + "#/concurrency-limits")  # the running tick holds a slot of the limit
        limits = page.get_by_role("table", name="Concurrency limits")
        expect(limits.get_by_role("row", name=re.compile(r"^database"))).to_contain_text("1 / 2")
        limits.get_by_role("link").first.click()
        expect(page.get_by_role("heading", level=1)).to_contain_text(re.compile(r"tick-\d+"))
        page.go_back()
        page.go_back()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Completed", timeout=60_000)
        expect(logs).to_contain_text("tick 79")
    finally:
        process.kill() if process.poll() is None else None
        process.communicate()


def test_unknown_run_shows_the_error(seeded_server, page):  # noqa: F811
    page.goto(ui(seeded_server) + "#/runs/00000000-0000-0000-0000-000000000000")
    expect(page.get_by_role("alert")).to_contain_text("No flow run with id")


def test_root_redirects_to_the_dashboard(seeded_server):
    response = httpx.get(seeded_server.url.removesuffix("/api") + "/", follow_redirects=False)
    assert response.status_code in (302, 307) and response.headers["location"] == "/ui/"


def test_dashboard_files_are_public_but_its_data_needs_a_key(tmp_path):
    from fastapi.testclient import TestClient

    from mintaka_server.api import create_app
    from mintaka_server.services import OrchestrationService
    from mintaka_server.storage.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "db")
    with TestClient(
        create_app(OrchestrationService(store), require_api_key=True), base_url="http://localhost"
    ) as client:
        assert client.get("/ui/").status_code == 200
        for asset in ("app.js", "pages/run.js", "vendor/preact/preact.js", "vendor/uplot/uPlot.esm.js"):
            response = client.get(f"/ui/{asset}")
            assert response.status_code == 200 and "javascript" in response.headers["content-type"], asset
            # asked without its content hash, browsers ask before reusing it; unchanged is a 304
            assert response.headers["cache-control"] == "no-cache"
            again = client.get(f"/ui/{asset}", headers={"If-None-Match": response.headers["etag"]})
            assert again.status_code == 304, asset
        assert client.get("/api/flow_runs").status_code == 401
    store.close()


def test_index_names_every_file_by_its_content_hash(tmp_path):
    """The page's scripts and modules (imports between modules too, through the import map) are at
    URLs carrying their content hash: kept by browsers for good, and new URLs when a file changes
    (an upgraded server's page never runs an old module). Its stylesheets are in the page."""
    import hashlib
    import json
    import shutil

    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.testclient import TestClient

    from mintaka_server.ui import STATIC_DIR, Assets

    static = tmp_path / "static"
    shutil.copytree(STATIC_DIR, static)
    with TestClient(Starlette(routes=[Mount("/ui", Assets(static))])) as client:

        def urls() -> dict[str, str]:
            page = client.get("/ui/")
            assert page.headers["cache-control"] == "no-cache"
            named = re.findall(r'(?:src|href)="\./([^"?]+)\?v=([0-9a-f]+)"', page.text)
            imports = json.loads(re.search(r'<script type="importmap">(.*?)</script>', page.text, re.S).group(1))
            for key, url in imports["imports"].items():
                path, version = url.removeprefix("./").split("?v=")
                assert key in (f"./{path}", "preact", "preact/hooks", "htm", "uplot"), key
                named.append((path, version))
            return dict(named)

        versions = urls()
        page = client.get("/ui/").text
        assert '<link rel="stylesheet"' not in page
        for stylesheet in ("style.css", "vendor/uplot/uPlot.min.css"):
            assert (static / stylesheet).read_text() in page
        named = {"app.js", "pages/dashboard.js", "pages/runs.js", "vendor/uplot/uPlot.esm.js"}
        assert named <= set(versions)
        for path, version in versions.items():
            assert version == hashlib.sha256((static / path).read_bytes()).hexdigest()[:16], path
            response = client.get(f"/ui/{path}", params={"v": version})
            assert response.status_code == 200
            assert response.headers["cache-control"] == "public, max-age=31536000, immutable", path
        stale = client.get("/ui/app.js", params={"v": "0" * 16})  # an old page's URL: served, not kept
        assert stale.status_code == 200 and stale.headers["cache-control"] == "no-cache"

        (static / "lib" / "query.js").write_text((static / "lib" / "query.js").read_text() + "\n// changed\n")
        changed = urls()
        assert changed["lib/query.js"] != versions["lib/query.js"]
        assert {p: v for p, v in changed.items() if p != "lib/query.js"} == {
            p: v for p, v in versions.items() if p != "lib/query.js"
        }


def test_every_module_of_the_dashboard_is_preloaded():
    """index.html names each module the dashboard's first paint imports, for the browser to fetch
    at once (a module left out is fetched only when its importer runs: a slower first paint), and
    no other (the other pages load when opened): the list must follow the imports."""
    import json

    from mintaka_server.ui import STATIC_DIR

    index = (STATIC_DIR / "index.html").read_text()
    bare = json.loads(re.search(r'<script type="importmap">(.*?)</script>', index, re.S).group(1))["imports"]
    graph, todo = set(), ["app.js"]
    while todo:  # the static imports from app.js (import() is left for later)
        module = todo.pop()
        if module in graph:
            continue
        graph.add(module)
        source = (STATIC_DIR / module).read_text()
        for name in re.findall(r'^(?:import|export) [^;]*? from "([^"]+)";', source, re.M | re.S):
            path = bare[name] if name in bare else (Path(module).parent / name).as_posix()
            todo.append(os.path.normpath(path.removeprefix("./")))
    preloaded = set(re.findall(r'<link rel="modulepreload" href="([^"]+)">', index))
    assert "pages/dashboard.js" in graph and "pages/runs.js" not in graph
    assert preloaded == graph - {"app.js"}
    assert re.search(r'<script type="module" src="app.js"></script>', index)


def test_the_dashboard_has_its_first_counts_in_the_page_and_reloads_without_asking_for_files(
    seeded_server,
    browser,  # noqa: F811
):
    """The server puts the dashboard's first counts in index.html, so its first render shows them
    without asking the API (no request queued behind the files, no round trip after them); a
    reload asks the server for no file but the page (each file's URL names its content)."""
    context = browser.new_context()
    context.add_init_script("localStorage.setItem('mintaka.pollMs', '60000')")  # no poll during the test
    page = context.new_page()  # noqa: F811 - its own context: no 1 s poll
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.goto(ui(seeded_server))
    completed = page.get_by_role("list", name="Runs per state").get_by_role("link", name=re.compile(r"Completed\s+2$"))
    expect(completed).to_be_visible()
    expect(page.get_by_role("list", name="Late and failed runs")).to_contain_text("the source is down")
    expect(page.get_by_role("table", name="Work queues")).to_be_visible()  # asked after the counts
    assert not [url for url in asked if "/api/flow_runs/stats" in url], asked

    page.get_by_role("group", name="Chart range").get_by_role("button", name="1h").click()  # asks then
    expect(page.get_by_text("Runs per 5 minutes, by current state")).to_be_visible()
    expect(completed).to_be_visible()
    assert [url for url in asked if "/api/flow_runs/stats" in url]

    page.goto(ui(seeded_server) + "#/runs")
    page.reload()
    expect(page.get_by_role("table", name="Flow runs")).to_be_visible()
    fetched = page.evaluate(
        """performance.getEntriesByType('resource').filter((e) => e.name.includes('/ui/') && e.transferSize > 0)
        .map((e) => e.name)"""
    )
    assert fetched == [], fetched
    context.close()


def test_index_carries_the_first_counts_only_where_the_api_needs_no_key(tmp_path):
    """Without keys the page holds what `GET /api/flow_runs/stats` answers for the last 24 hours
    (HTML-safe); with keys it holds no data (the page asks the API with the user's key)."""
    import json

    from fastapi.testclient import TestClient

    from mintaka.schemas import FlowRunCreate
    from mintaka.states import State, StateType
    from mintaka_server.api import create_app
    from mintaka_server.services import OrchestrationService
    from mintaka_server.storage.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "db")
    service = OrchestrationService(store)
    failed = State(type=StateType.FAILED, name="Failed", message="</script><b>x</b>")
    service.create_flow_run(FlowRunCreate(flow_name="etl", state=failed))
    first = re.compile(r'<script type="application/json" id="mintaka-first">(.*?)</script>', re.S)
    with TestClient(create_app(service), base_url="http://localhost") as client:
        page = client.get("/ui/")
        assert page.status_code == 200 and page.headers["cache-control"] == "no-cache"
        inlined = json.loads(first.search(page.text).group(1))
        asked = client.get("/api/flow_runs/stats", params={"bucket_seconds": 3600}).json()
        assert inlined["path"] == "/flow_runs/stats"
        assert inlined["data"]["totals"] == asked["totals"] == {"FAILED": 1}
        assert inlined["data"]["buckets"] == asked["buckets"]
        assert inlined["data"]["recent_failures"][0]["message"] == "</script><b>x</b>"
        assert "<b>" not in page.text and page.text.rstrip().endswith("</html>")
    with TestClient(create_app(service, require_api_key=True), base_url="http://localhost") as client:
        page = client.get("/ui/")
        assert page.status_code == 200 and not first.search(page.text)
    store.close()


def test_the_key_prompt_appears_when_auth_is_on(tmp_path, page):  # noqa: F811
    from support.servers import serve_in_thread

    from mintaka.schemas import ApiKeyCreate
    from mintaka_server.api import create_app
    from mintaka_server.services import OrchestrationService
    from mintaka_server.storage.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "db")
    service = OrchestrationService(store)
    key = service.api_keys.create(ApiKeyCreate(name="ui")).key
    with serve_in_thread(create_app(service, require_api_key=True)) as base:
        page.goto(f"{base}/ui/#/runs")
        dialog = page.get_by_role("dialog", name="This API needs an API key")
        dialog.get_by_label("API key").fill(key)
        dialog.get_by_role("button", name="Save").click()
        expect(dialog).to_be_hidden()
        expect(page.get_by_text("No runs yet")).to_be_visible()
    store.close()


# -- the run actions, clicked as a user does


@pytest.fixture
def served(tmp_path):
    """(base URL, orchestration service) of a live API on a fresh store."""
    from support.servers import serve_in_thread

    from mintaka_server.api import create_app
    from mintaka_server.services import OrchestrationService
    from mintaka_server.storage.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "ui.db")
    service = OrchestrationService(store)
    with serve_in_thread(create_app(service)) as base:
        yield base, service
    store.close()


def test_cancel_button_cancels_a_scheduled_run(served, page):  # noqa: F811
    from mintaka.schemas import FlowRunCreate
    from mintaka.states import State, StateType

    base, service = served
    run = service.create_flow_run(FlowRunCreate(flow_name="nightly", state=State(type=StateType.SCHEDULED)))
    page.goto(f"{base}/ui/#/runs/{run.id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Scheduled")
    page.get_by_role("button", name="Cancel run").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Cancelled")
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
    final = service.read_flow_run(run.id).state
    assert (final.type, final.message) == (StateType.CANCELLED, "Cancelled from the dashboard")


def test_resume_button_resumes_a_paused_run(served, page):  # noqa: F811
    from mintaka.schemas import FlowRunCreate, SetStateRequest
    from mintaka.states import State, StateType, utcnow

    base, service = served
    run = service.create_flow_run(FlowRunCreate(flow_name="approval", state=State(type=StateType.RUNNING)))
    pause = State(type=StateType.PAUSED, state_details={"pause_timeout": utcnow() + dt.timedelta(minutes=5)})
    service.set_flow_run_state(run.id, SetStateRequest(state=pause))
    page.goto(f"{base}/ui/#/runs/{run.id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Paused")
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Running")
    expect(page.get_by_role("button", name="Resume")).to_have_count(0)
    expect(page.get_by_role("button", name="Cancel run")).to_be_visible()
    assert service.read_flow_run(run.id).state.type is StateType.RUNNING
    assert service.read_flow_run(run.id).run_count == 1  # a resume is not a new attempt


def test_the_runs_list_updates_live_without_a_reload(served, page):  # noqa: F811
    from mintaka.schemas import FlowRunCreate
    from mintaka.states import State, StateType

    base, service = served
    running = service.create_flow_run(FlowRunCreate(flow_name="nightly", state=State(type=StateType.RUNNING)))
    page.goto(f"{base}/ui/#/runs")
    runs = page.get_by_role("table", name="Flow runs")
    row = runs.get_by_role("row").filter(has=page.get_by_role("link", name=running.name, exact=True))
    duration = row.get_by_role("cell").nth(4)
    first = duration.inner_text()
    expect(duration).not_to_have_text(first)  # a running run's duration grows as you watch

    page.evaluate("window.sameDocument = true")  # gone if the page reloads
    later = service.create_flow_run(FlowRunCreate(flow_name="hourly", state=State(type=StateType.SCHEDULED)))
    expect(runs.get_by_role("link", name=later.name, exact=True)).to_be_visible()  # a new run appears
    assert page.evaluate("window.sameDocument") is True


# Counts the page's fetch() calls as they are made (no request can slip past a count taken later),
# and those not answered yet.
COUNT_FETCHES = """
window.fetches = 0;
window.unanswered = 0;
const fetchForReal = window.fetch;
window.fetch = (...args) => {
  window.fetches += 1;
  window.unanswered += 1;
  return fetchForReal(...args).finally(() => { window.unanswered -= 1; });
};
"""
SET_HIDDEN = """(hidden) => {
  Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
  const state = hidden ? 'hidden' : 'visible';
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state });
  document.dispatchEvent(new Event('visibilitychange'));
}"""


def test_live_updates_pause_while_the_tab_is_hidden_and_resume_when_shown(served, page):  # noqa: F811
    from mintaka.schemas import FlowRunCreate
    from mintaka.states import State, StateType

    base, service = served
    service.create_flow_run(FlowRunCreate(flow_name="nightly", state=State(type=StateType.RUNNING)))
    page.add_init_script(COUNT_FETCHES)
    page.clock.install()  # time flows as usual until paused below
    page.goto(f"{base}/ui/#/")
    running = page.get_by_role("list", name="Runs per state").get_by_role("link").filter(has_text="Running")
    expect(running.locator(".count-value")).to_have_text("1")
    now = dt.datetime.fromtimestamp(page.evaluate("Date.now()") / 1000, dt.UTC)
    page.clock.pause_at(now + dt.timedelta(seconds=1))  # from here the test moves the page's time

    before = page.evaluate("window.fetches")
    page.clock.run_for(2000)  # visible: the dashboard polls every second (this test's setting)
    assert page.evaluate("window.fetches") > before

    page.evaluate(SET_HIDDEN, True)
    # A read sent while the tab was visible may still be on its way: the new run must come after
    # it (polled from here: the page's own timers are the test's clock).
    deadline = time.monotonic() + 15
    while page.evaluate("window.unanswered") and time.monotonic() < deadline:
        time.sleep(0.05)
    service.create_flow_run(FlowRunCreate(flow_name="nightly", state=State(type=StateType.RUNNING)))
    before = page.evaluate("window.fetches")
    page.clock.run_for(60_000)  # a minute hidden: sixty polls' worth of time, and the saved views' too
    assert page.evaluate("window.fetches") == before, "the hidden tab kept polling"
    expect(running.locator(".count-value")).to_have_text("1")

    page.evaluate(SET_HIDDEN, False)  # shown again: it reads at once, without waiting for a tick
    expect(running.locator(".count-value")).to_have_text("2")
    before = page.evaluate("window.fetches")
    page.clock.run_for(2000)
    assert page.evaluate("window.fetches") > before  # and polls again
