"""The dashboard in a real headless Chromium: runs made without a server are listed, and a
run's page shows its states, task runs and logs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from support.chromium import render, require_chromium

ROOT = Path(__file__).resolve().parents[2]

require_chromium()


def cell_texts(html: str, table_id: str) -> list[str]:
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', html, re.S)
    assert table, f"no table #{table_id}"
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", table.group(0), re.S)]


@pytest.fixture
def seeded_server(mintaka_home, start_cli_server):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINTAKA_")}
    subprocess.run(
        [sys.executable, str(ROOT / "examples" / "etl.py")],
        env={**env, "MINTAKA_HOME": str(mintaka_home)},
        check=True,
        capture_output=True,
        timeout=60,
    )
    return start_cli_server()


def test_runs_list_shows_runs_made_without_a_server(seeded_server):
    base = seeded_server.url.removesuffix("/api")
    html = render(f"{base}/ui/#/")
    assert 'data-ready="true"' in html
    body = html[html.index('id="runs"') :]
    assert body.count('class="state COMPLETED"') == 2  # etl and its subflow load
    assert ">etl<" in body and ">load<" in body

    filtered = render(f"{base}/ui/#/?flow=load")
    rows = filtered[filtered.index('id="runs"') : filtered.index("</tbody>", filtered.index('id="runs"'))]
    assert ">load<" in rows and ">etl<" not in rows


def test_run_page_shows_states_task_runs_and_logs(seeded_server):
    base = seeded_server.url.removesuffix("/api")
    run = httpx.get(f"{seeded_server.url}/flow_runs", params={"flow_name": "etl"}).json()["items"][0]
    html = render(f"{base}/ui/#/runs/{run['id']}")
    assert 'data-ready="true"' in html
    timeline = re.search(r'id="timeline">(.*?)</div>', html, re.S).group(1)
    assert re.findall(r'class="state [A-Z]+"[^>]*>([^<]+)<', timeline) == ["Pending", "Running", "Completed"]
    tasks = cell_texts(html, "task-runs")
    extract = tasks.index("extract-0")
    assert tasks[extract + 1] == "Completed" and tasks[extract + 2] == "2"  # retried once
    assert sum(1 for t in tasks if t.startswith("transform-")) == 10
    logs = " ".join(cell_texts(html, "logs"))
    assert "Sum of squares of 1..10: 385" in logs


def test_unknown_run_shows_the_error(seeded_server):
    base = seeded_server.url.removesuffix("/api")
    html = render(f"{base}/ui/#/runs/00000000-0000-0000-0000-000000000000")
    assert 'data-ready="error"' in html and "No flow run with id" in html


def test_root_redirects_to_the_dashboard(seeded_server):
    base = seeded_server.url.removesuffix("/api")
    response = httpx.get(f"{base}/", follow_redirects=False)
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
        assert client.get("/ui/app.js").status_code == 200
        assert client.get("/api/flow_runs").status_code == 401
    store.close()


# -- buttons, clicked in Chromium: a same-origin harness page loads the dashboard in an iframe,
# clicks like a user (element.click() dispatches a real click), waits for the page to re-render,
# and reports what the dashboard then shows.

HARNESS = """<!doctype html><html><body><pre id="result">pending</pre>
<iframe id="ui" src="/ui/#/runs/{run_id}" width="1200" height="800"></iframe>
<script>
const frame = document.getElementById("ui"), result = document.getElementById("result");
const ready = (d) => d && d.body && d.body.dataset.ready === "true" && d.querySelector("h1 .state");
function poll(check, then, tries = 400) {{
  const value = check();
  if (value) then(value); else if (tries > 0) setTimeout(() => poll(check, then, tries - 1), 25);
  else result.textContent = "timeout: " + (frame.contentDocument.body.innerText || "").slice(0, 300);
}}
frame.onload = () => poll(() => ready(frame.contentDocument), () => {{
  const doc = frame.contentDocument;
  const button = doc.getElementById("{button}");
  if (!button) {{ result.textContent = "no button #{button}"; return; }}
  button.click();
  poll(() => {{
    const state = doc.querySelector("h1 .state");
    return state && state.textContent !== "{before}" && state.textContent;
  }}, (state) => {{
    const buttons = [...doc.querySelectorAll(".actions button")].map((b) => b.id).join(",");
    result.textContent = "state=" + state + ";buttons=" + buttons;
  }});
}});
</script></body></html>"""


@pytest.fixture
def clickable(tmp_path):
    """A live API on a fresh store plus `/harness?...` pages; yields (base URL, orchestration service)."""
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse
    from support.servers import serve_in_thread

    from mintaka_server.api import create_app
    from mintaka_server.services import OrchestrationService
    from mintaka_server.storage.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "ui.db")
    service = OrchestrationService(store)
    outer = FastAPI()

    @outer.get("/harness", response_class=HTMLResponse)
    def harness(run_id: str, button: str, before: str) -> str:
        return HARNESS.format(run_id=run_id, button=button, before=before)

    outer.mount("/", create_app(service))
    with serve_in_thread(outer) as base:
        yield base, service
    store.close()


def test_cancel_button_cancels_a_scheduled_run(clickable):
    from mintaka.schemas import FlowRunCreate
    from mintaka.states import State, StateType

    base, service = clickable
    run = service.create_flow_run(FlowRunCreate(flow_name="nightly", state=State(type=StateType.SCHEDULED)))
    html = render(f"{base}/harness?run_id={run.id}&button=cancel-run&before=Scheduled")
    assert "state=Cancelled;buttons=<" in html.replace("</pre>", "<"), html[:500]
    final = service.read_flow_run(run.id).state
    assert (final.type, final.message) == (StateType.CANCELLED, "Cancelled from the dashboard")


def test_resume_button_resumes_a_paused_run(clickable):
    import datetime as dt

    from mintaka.schemas import FlowRunCreate, SetStateRequest
    from mintaka.states import State, StateType, utcnow

    base, service = clickable
    run = service.create_flow_run(FlowRunCreate(flow_name="approval", state=State(type=StateType.RUNNING)))
    pause = State(type=StateType.PAUSED, state_details={"pause_timeout": utcnow() + dt.timedelta(minutes=5)})
    service.set_flow_run_state(run.id, SetStateRequest(state=pause))
    html = render(f"{base}/harness?run_id={run.id}&button=resume-run&before=Paused")
    assert "state=Running;buttons=cancel-run<" in html.replace("</pre>", "<"), html[:500]
    assert service.read_flow_run(run.id).state.type is StateType.RUNNING
    assert service.read_flow_run(run.id).run_count == 1  # a resume is not a new attempt
