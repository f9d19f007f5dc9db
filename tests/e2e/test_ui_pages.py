"""The dashboard's other pages in a real headless Chromium (Playwright), over real runs: the chart
and counts, saved views, deployments (schedule in words, pause, Run with a validated parameter
form), work queues, the colour-blind palette, `/api/docs` offline, and a screenshot of every page."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from zoneinfo import ZoneInfo

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

ROOT = Path(__file__).resolve().parents[2]

require_browser()

from playwright.sync_api import expect  # noqa: E402


@pytest.fixture
def server(mintaka_home, start_cli_server, run_cli):
    """`mintaka server start` over real runs (etl + its subflow, a failed one), a deployment of
    `greet` on a weekday cron in Berlin, and a concurrency limit."""
    run_flow_script(mintaka_home, SEED)
    live = start_cli_server()
    # Twelve hours from now in Berlin: far past the scheduler's look-ahead at any time of day, so
    # no scheduled run appears in the counts, the queue or the runs list.
    hour = (dt.datetime.now(ZoneInfo("Europe/Berlin")) + dt.timedelta(hours=12)).hour
    deployed = run_cli(
        "deploy",
        f"{ROOT / 'examples' / 'deployable.py'}:greet",
        "--name",
        "weekday",
        "--cron",
        f"30 {hour} * * 1-5",
        "--timezone",
        "Europe/Berlin",
        api_url=live.url,
    )
    assert deployed.returncode == 0, deployed.stderr
    limited = run_cli("concurrency-limit", "create", "database", "2", api_url=live.url)
    assert limited.returncode == 0, limited.stderr
    return live


def ui(live) -> str:
    return live.url.removesuffix("/api") + "/ui/"


def test_dashboard_counts_runs_by_state_and_puts_failures_first(server, page, screenshot_dir):  # noqa: F811
    page.goto(ui(server))
    counts = page.get_by_role("list", name="Runs per state")
    expect(counts.get_by_role("link", name=re.compile(r"Completed\s+2$"))).to_be_visible()  # etl and load
    expect(counts.get_by_role("link", name=re.compile(r"Failed\s+1$"))).to_be_visible()
    expect(counts.get_by_role("listitem", name="Failure rate 33%")).to_be_visible()  # 1 of 3 finished runs
    expect(page.get_by_role("img", name="Flow runs over time, stacked by state").locator("canvas")).to_be_visible()
    data = page.get_by_role("table", name="Runs per time bucket")
    page.get_by_text("Chart data").click()
    expect(data).to_be_visible()  # made when opened
    totals = [
        sum(int(c) for c in row.get_by_role("cell").all_inner_texts()[1:]) for row in data.locator("tbody tr").all()
    ]
    assert sum(totals) == 3, totals
    expect(page.get_by_text("Runs per hour, by current state")).to_be_visible()  # 24 h: hours
    for range_, per in (("1h", "5 minutes"), ("30d", "day"), ("24h", "hour")):  # finer and coarser
        page.get_by_role("group", name="Chart range").get_by_role("button", name=range_).click()
        expect(page.get_by_text(f"Runs per {per}, by current state")).to_be_visible()
        expect(counts.get_by_role("link", name=re.compile(r"Completed\s+2$"))).to_be_visible()
    attention = page.get_by_role("list", name="Late and failed runs")
    expect(attention).to_contain_text("broken")
    expect(attention).to_contain_text("the source is down")
    expect(page.get_by_role("table", name="Work queues")).to_contain_text("default")
    screenshot(page, screenshot_dir, "dashboard")

    counts.get_by_role("link", name=re.compile(r"Failed")).click()  # a count opens its runs
    expect(page).to_have_url(re.compile(r"#/runs\?state=FAILED"))
    expect(page.get_by_role("table", name="Flow runs").get_by_role("row")).to_have_count(2)

    page.goto(ui(server) + "#/?flow=load")  # the filter bar narrows the chart too
    expect(
        page.get_by_role("list", name="Runs per state").get_by_role("link", name=re.compile(r"Completed\s+1$"))
    ).to_be_visible()


def test_a_saved_view_is_listed_and_survives_a_reload(server, page):  # noqa: F811
    page.goto(ui(server) + "#/runs")
    query = page.get_by_role("searchbox", name="Query")
    query.fill("state:failed since:7d")
    query.press("Enter")
    page.get_by_role("button", name="Save view").click()
    page.get_by_label("View name").fill("Failures this week")
    page.get_by_role("button", name="Save", exact=True).click()
    views = page.get_by_role("navigation", name="Saved views")
    expect(views.get_by_role("link", name="Failures this week")).to_be_visible()

    page.goto(ui(server) + "#/flows")
    page.reload()
    views.get_by_role("link", name="Failures this week").click()
    expect(page.get_by_role("searchbox", name="Query")).to_have_value("state:failed since:7d")
    runs = page.get_by_role("table", name="Flow runs")
    expect(runs.get_by_role("row")).to_have_count(2)
    expect(runs.get_by_role("link", name="broken", exact=True)).to_be_visible()
    assert [v["name"] for v in httpx.get(f"{server.url}/saved_views").json()] == ["Failures this week"]

    views.get_by_role("button", name="Delete the view Failures this week").click()
    expect(views.get_by_role("link", name="Failures this week")).to_have_count(0)


def test_deployment_schedule_in_words_pause_and_run_with_a_validated_form(server, page, screenshot_dir):  # noqa: F811
    page.goto(ui(server) + "#/deployments")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="greet/weekday"))
    expect(row).to_contain_text(re.compile(r":30.*Monday through Friday.*Europe/Berlin"))
    screenshot(page, screenshot_dir, "deployments")
    row.get_by_role("link", name="greet/weekday").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("greet/weekday")

    expect(page.get_by_role("list", name="Next fire times").get_by_role("listitem")).to_have_count(5)
    page.get_by_role("button", name="Pause schedule").click()
    expect(page.get_by_role("button", name="Resume schedule")).to_be_visible()
    expect(page.get_by_role("list", name="Next fire times")).to_have_count(0)  # none while paused
    assert httpx.get(f"{server.url}/deployments/greet/weekday").json()["schedule_paused"] is True
    page.get_by_role("button", name="Resume schedule").click()
    expect(page.get_by_role("button", name="Pause schedule")).to_be_visible()
    assert httpx.get(f"{server.url}/deployments/greet/weekday").json()["schedule_paused"] is False

    page.get_by_role("button", name="Run", exact=True).click()
    form = page.get_by_role("form", name="Run this deployment")
    expect(form.get_by_label("Name", exact=True)).to_have_value("world")  # the flow's default
    form.get_by_label("Times", exact=True).fill("twice")
    form.get_by_role("button", name="Create run").click()
    expect(form.get_by_role("alert")).to_contain_text("times")
    expect(form.get_by_role("alert")).to_contain_text("integer")
    assert httpx.get(f"{server.url}/flow_runs", params={"flow_name": "greet"}).json()["items"] == []
    screenshot(page, screenshot_dir, "deployment-run-form")

    form.get_by_label("Times", exact=True).fill("2")
    form.get_by_label("Run name").fill("greet-by-hand")
    form.get_by_label("Tags").fill("by-hand")
    form.get_by_role("button", name="Create run").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Scheduled")  # its own page, due now
    expect(page.get_by_text('"times": 2')).to_be_visible()
    [run] = httpx.get(f"{server.url}/flow_runs", params={"flow_name": "greet"}).json()["items"]
    assert run["parameters"] == {"name": "world", "times": 2} and "by-hand" in run["tags"]
    assert run["name"] == "greet-by-hand"
    expect(page.get_by_role("heading", level=1)).to_contain_text("greet-by-hand")
    assert run["deployment_name"] == "greet/weekday"


def test_a_cancelled_deployed_run_can_be_retried(server, page):  # noqa: F811
    created = httpx.post(f"{server.url}/deployments/greet/weekday/runs", json={"parameters": {"name": "Ada"}})
    run = created.json()
    page.goto(ui(server) + f"#/runs/{run['id']}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Scheduled")
    expect(page.get_by_role("button", name="Retry")).to_have_count(0)  # nothing to retry yet
    page.get_by_role("button", name="Cancel run").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Cancelled")

    page.get_by_role("button", name="Retry").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Scheduled")  # scheduled again, due now
    expect(page.locator(".message")).to_contain_text("Retried")
    expect(page).to_have_url(re.compile(f"#/runs/{run['id']}$"))
    expect(page.get_by_role("list", name="State history")).to_contain_text("Cancelled")
    retried = httpx.get(f"{server.url}/flow_runs/{run['id']}/summary").json()
    assert retried["state"]["type"] == "SCHEDULED" and retried["parameters"] == {"name": "Ada"}

    page.goto(ui(server) + "#/runs?flow=broken")  # a run with no deployment: no worker could run it again
    page.get_by_role("table", name="Flow runs").get_by_role("link", name=re.compile("-")).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Failed")
    expect(page.get_by_role("button", name="Retry")).to_have_count(0)


def test_pausing_a_work_queue_shows_it_paused(server, page, screenshot_dir):  # noqa: F811
    httpx.post(f"{server.url}/deployments/greet/weekday/runs", json={}).raise_for_status()  # due now, no worker
    page.goto(ui(server) + "#/work-queues")
    row = page.get_by_role("row", name=re.compile(r"^default"))
    expect(row).to_contain_text("Active")
    expect(row.get_by_role("cell").nth(2)).to_have_text("1")  # waiting
    expect(row.get_by_role("cell").nth(3)).to_have_text("0")  # running
    row.get_by_role("button", name="Pause default").click()
    expect(row).to_contain_text("Paused")
    expect(row.get_by_role("button", name="Resume default")).to_be_visible()
    assert httpx.get(f"{server.url}/work_queues/default").json()["paused"] is True

    row.get_by_role("spinbutton", name="Concurrency limit of default").fill("3")
    row.get_by_role("button", name="Save the concurrency limit of default").click()
    expect(row.get_by_role("spinbutton", name="Concurrency limit of default")).to_have_value("3")
    assert httpx.get(f"{server.url}/work_queues/default").json()["concurrency_limit"] == 3
    screenshot(page, screenshot_dir, "work-queues")

    row.get_by_role("button", name="Resume default").click()
    expect(row).to_contain_text("Active")

    page.goto(ui(server) + "#/runs?state=SCHEDULED")  # a scheduled run shows when it is due
    scheduled = page.get_by_role("table", name="Flow runs").get_by_role("row").filter(has_text="greet")
    expect(scheduled).to_contain_text(re.compile(r"Due .+\((in .+|.+ ago)\)"))


def test_a_colour_blind_palette_can_be_chosen_and_persists(server, page, screenshot_dir):  # noqa: F811
    page.goto(ui(server) + "#/settings")
    page.get_by_role("radio", name="Dark").check()
    page.get_by_role("radio", name=re.compile(r"^Colour-blind safe")).check()
    page.reload()
    expect(page.get_by_role("radio", name=re.compile(r"^Colour-blind safe"))).to_be_checked()
    expect(page.get_by_role("radio", name="Dark")).to_be_checked()
    expect(page.locator("html")).to_have_attribute("data-palette", "okabe-ito")
    # Every state keeps its icon and its name; the colours are Okabe & Ito's.
    legend = page.get_by_label("States")
    for name in ("Scheduled", "Late", "Pending", "Running", "Paused", "Completed", "Failed", "Cancelled", "Crashed"):
        expect(legend.get_by_text(name, exact=True)).to_be_visible()
    failed = legend.locator(".state-FAILED .state-icon").evaluate("e => getComputedStyle(e).color")
    assert failed == "rgb(213, 94, 0)"  # Okabe-Ito vermillion
    screenshot(page, screenshot_dir, "settings")

    page.goto(ui(server) + "#/runs")  # other pages use it too
    icon = page.locator(".state-COMPLETED .state-icon").first
    assert icon.evaluate("e => getComputedStyle(e).color") == "rgb(0, 158, 115)"  # bluish green


def test_api_docs_render_offline(server, page):  # noqa: F811
    outside: list[str] = []

    def only_loopback(route):
        if re.match(r"https?://(127\.0\.0\.1|localhost)[:/]", route.request.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_loopback)
    page.goto(server.url + "/docs")
    expect(page.get_by_text("Mintaka orchestration API").first).to_be_visible()
    expect(page.get_by_text("/api/flow_runs").first).to_be_visible()
    assert outside == []


def test_every_page_renders_and_is_screenshot(server, page, screenshot_dir):  # noqa: F811
    run = httpx.get(f"{server.url}/flow_runs", params={"flow_name": "etl"}).json()["items"][0]
    task = httpx.get(f"{server.url}/flow_runs/{run['id']}").json()["task_runs"][0]
    page.goto(ui(server))
    nav = page.get_by_role("navigation", name="Pages")
    for link, heading in [
        ("Dashboard", "Dashboard"),
        ("Flow runs", "Flow runs"),
        ("Flows", "Flows"),
        ("Deployments", "Deployments"),
        ("Work queues", "Work queues"),
        ("Concurrency limits", "Concurrency limits"),
        ("Settings", "Settings"),
    ]:
        nav.get_by_role("link", name=link, exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        expect(nav.get_by_role("link", name=link, exact=True)).to_have_attribute("aria-current", "page")
        expect(page.get_by_text("Loading…")).to_have_count(0)
        screenshot(page, screenshot_dir, f"page-{link}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Settings")

    page.goto(ui(server) + "#/flows")
    flows = page.get_by_role("table", name="Flows")
    expect(flows.get_by_role("row", name=re.compile(r"^etl"))).to_contain_text("Completed")
    page.goto(ui(server) + "#/concurrency-limits")
    expect(page.get_by_role("table", name="Concurrency limits")).to_contain_text("0 / 2")
    page.goto(ui(server) + f"#/runs/{run['id']}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(run["name"])
    screenshot(page, screenshot_dir, "page-flow-run")
    page.goto(ui(server) + f"#/task-runs/{task['id']}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(task["name"])
    screenshot(page, screenshot_dir, "page-task-run")
    page.goto(ui(server) + "#/deployments/greet/weekday")
    expect(page.get_by_role("heading", level=1)).to_have_text("greet/weekday")
    screenshot(page, screenshot_dir, "page-deployment")
    page.reload()
    page.keyboard.press("Tab")  # keyboard first: the skip link, then the pages
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    assert len(list(screenshot_dir.glob("page-*.png"))) >= 10


def test_next_runs_show_the_soonest_scheduled_run(server, page):  # noqa: F811
    """The dashboard's next runs come from the server's due index (`/api/flow_runs/upcoming`)."""
    due = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)).isoformat()
    state = {"type": "SCHEDULED", "state_details": {"scheduled_time": due}}
    created = httpx.post(f"{server.url}/flow_runs", json={"flow_name": "etl", "name": "soon-otter", "state": state})
    assert created.status_code == 201, created.text
    page.goto(ui(server))
    expect(page.get_by_role("table", name="Next runs")).to_contain_text("soon-otter")
