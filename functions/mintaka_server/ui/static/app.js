// Mintaka dashboard: a small hash-routed page over the JSON API (no build step).
"use strict";

const API = new URL("../api", window.location.href).pathname.replace(/\/$/, "");
const app = document.getElementById("app");
const LEVELS = { 10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL" };

async function api(path, params, payload) {
  const url = new URL(API + path, window.location.origin);
  Object.entries(params || {}).forEach(([k, v]) => { if (v !== "" && v != null) url.searchParams.set(k, v); });
  const headers = {};
  const key = localStorage.getItem("mintaka.apiKey");
  if (key) headers.Authorization = `Bearer ${key}`;
  const init = { headers };
  if (payload !== undefined) {
    Object.assign(init, { method: "POST", body: JSON.stringify(payload) });
    headers["Content-Type"] = "application/json";
  }
  const response = await fetch(url, init);
  if (response.status === 401) { askForKey(); throw new Error("This API needs an API key"); }
  const body = await response.json();
  if (!response.ok) throw new Error(body.detail || response.statusText);
  return body;
}

function askForKey() {
  const dialog = document.getElementById("key-dialog");
  if (dialog.open) return;
  document.getElementById("key-save").onclick = () => {
    localStorage.setItem("mintaka.apiKey", document.getElementById("key-input").value.trim());
    route();
  };
  dialog.showModal();
}

const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const badge = (state) => state ? `<span class="state ${esc(state.type)}" title="${esc(state.message || "")}">${esc(state.name)}</span>` : "";
const when = (iso) => iso ? new Date(iso).toLocaleString() : "";
function duration(run) {
  if (!run.start_time) return "";
  const end = run.end_time ? new Date(run.end_time) : new Date();
  const seconds = (end - new Date(run.start_time)) / 1000;
  return seconds < 60 ? `${seconds.toFixed(2)} s` : `${(seconds / 60).toFixed(1)} min`;
}

function runRows(runs) {
  return runs.map((r) => `<tr data-run="${esc(r.id)}">
      <td><a href="#/runs/${esc(r.id)}">${esc(r.name)}</a></td><td>${esc(r.flow_name)}</td>
      <td>${badge(r.state)}</td><td>${when(r.start_time || r.created)}</td><td>${duration(r)}</td>
      <td>${(r.tags || []).map(esc).join(", ")}</td></tr>`).join("");
}

async function listRuns(query) {
  const filters = { flow_name: query.get("flow") || "", state_type: query.get("state") || "", limit: 50 };
  app.innerHTML = `<h1>Flow runs</h1>
    <form class="filters" id="filters">
      <input name="flow" placeholder="Flow name" value="${esc(filters.flow_name)}">
      <select name="state"><option value="">Any state</option>${["SCHEDULED", "PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED", "CRASHED", "PAUSED"]
        .map((s) => `<option ${s === filters.state_type ? "selected" : ""}>${s}</option>`).join("")}</select>
      <button>Filter</button>
    </form>
    <table><thead><tr><th>Run</th><th>Flow</th><th>State</th><th>Started</th><th>Duration</th><th>Tags</th></tr></thead>
    <tbody id="runs"></tbody></table>
    <p><button id="more" hidden>Load more</button> <span id="count" class="muted"></span></p>`;
  document.getElementById("filters").onsubmit = (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    location.hash = `#/?flow=${encodeURIComponent(form.get("flow"))}&state=${encodeURIComponent(form.get("state"))}`;
  };
  let cursor = null, shown = 0;
  const more = document.getElementById("more");
  async function page() {
    const result = await api("/flow_runs", { ...filters, cursor });
    document.getElementById("runs").insertAdjacentHTML("beforeend", runRows(result.items));
    shown += result.items.length;
    cursor = result.next_cursor;
    more.hidden = !cursor;
    document.getElementById("count").textContent = shown ? `${shown} run${shown === 1 ? "" : "s"}` : "No runs yet: run a flow, then refresh.";
  }
  more.onclick = page;
  await page();
}

async function showRun(id) {
  const [run, logs] = await Promise.all([api(`/flow_runs/${id}`), api(`/flow_runs/${id}/logs`, { limit: 1000 })]);
  const timeline = run.states.map((s) => `${badge(s)}<span class="muted mono">${new Date(s.timestamp).toLocaleTimeString()}</span>`)
    .join('<span class="arrow">→</span>');
  const tasks = run.task_runs.map((t) => `<tr><td>${esc(t.name)}</td><td>${badge(t.state)}</td><td>${t.run_count}</td>
      <td>${duration(t)}</td><td>${(t.tags || []).map(esc).join(", ")}</td></tr>`).join("");
  const logRows = logs.map((l) => `<tr><td class="muted">${new Date(l.timestamp).toLocaleTimeString()}</td>
      <td>${LEVELS[l.level] || l.level}</td><td>${esc(l.message)}</td></tr>`).join("");
  const type = run.state ? run.state.type : "";
  const actions = [
    type === "PAUSED" ? '<button id="resume-run">Resume</button>' : "",
    ["SCHEDULED", "PENDING", "RUNNING", "PAUSED"].includes(type) ? '<button id="cancel-run" class="danger">Cancel run</button>' : "",
  ].join(" ");
  app.innerHTML = `<h1>${esc(run.flow_name)} / ${esc(run.name)} ${badge(run.state)}</h1>
    <p class="muted mono">${esc(run.id)}${run.deployment_name ? ` · deployment ${esc(run.deployment_name)}` : ""}</p>
    ${actions.trim() ? `<p class="actions">${actions} <span id="action-error" class="error"></span></p>` : ""}
    ${run.state && run.state.message ? `<p class="${run.state.type === "COMPLETED" ? "" : "error"}">${esc(run.state.message)}</p>` : ""}
    <h2>States</h2><div class="timeline" id="timeline">${timeline}</div>
    <h2>Task runs (${run.task_runs.length})</h2>
    <table id="task-runs"><thead><tr><th>Task run</th><th>State</th><th>Attempts</th><th>Duration</th><th>Tags</th></tr></thead>
    <tbody>${tasks || '<tr><td colspan="5" class="muted">No task runs</td></tr>'}</tbody></table>
    <h2>Parameters</h2><pre>${esc(JSON.stringify(run.parameters, null, 2))}</pre>
    <h2>Logs (${logs.length})</h2>
    <table class="logs" id="logs"><tbody>${logRows || '<tr><td class="muted">No logs</td></tr>'}</tbody></table>`;
  const propose = (state) => async () => {
    const answer = await api(`/flow_runs/${id}/set_state`, {}, { state });
    if (answer.status !== "ACCEPT") document.getElementById("action-error").textContent = answer.details.reason || answer.status;
    else await route();
  };
  const cancel = document.getElementById("cancel-run");
  if (cancel) cancel.onclick = propose({ type: "CANCELLING", message: "Cancelled from the dashboard" });
  const resume = document.getElementById("resume-run");
  if (resume) resume.onclick = propose({ type: "RUNNING", message: "Resumed from the dashboard" });
}

async function listFlows() {
  const flows = await api("/flows");
  app.innerHTML = `<h1>Flows</h1><table><thead><tr><th>Flow</th><th>Created</th></tr></thead><tbody>${flows
    .map((f) => `<tr><td><a href="#/?flow=${encodeURIComponent(f.name)}">${esc(f.name)}</a></td><td>${when(f.created)}</td></tr>`)
    .join("")}</tbody></table>`;
}

async function listDeployments() {
  let deployments = [];
  try { deployments = await api("/deployments"); } catch (e) { /* older servers have no deployments */ }
  app.innerHTML = `<h1>Deployments</h1><table><thead><tr><th>Deployment</th><th>Queue</th><th>Infrastructure</th><th>Schedules</th></tr></thead><tbody>${deployments
    .map((d) => `<tr><td>${esc(d.flow_name)}/${esc(d.name)}</td><td>${esc(d.work_queue_name)}</td><td>${esc(d.infrastructure)}</td>
      <td>${d.schedule_paused ? "paused" : (d.schedules || []).map((s) => esc(s.cron || s.rrule || `every ${s.interval_seconds}s`)).join(", ")}</td></tr>`)
    .join("") || '<tr><td colspan="4" class="muted">No deployments</td></tr>'}</tbody></table>`;
}

async function route() {
  const [path, search] = (location.hash.slice(1) || "/").split("?");
  const query = new URLSearchParams(search || "");
  try {
    if (path.startsWith("/runs/")) await showRun(path.slice(6));
    else if (path === "/flows") await listFlows();
    else if (path === "/deployments") await listDeployments();
    else await listRuns(query);
    document.getElementById("status").textContent = "";
    document.body.dataset.ready = "true";
  } catch (error) {
    app.innerHTML = `<p class="error" id="error">${esc(error.message)}</p>`;
    document.body.dataset.ready = "error";
  }
}

window.addEventListener("hashchange", route);
route();
