// A flow run: its state and actions, parameters, state history, a timeline of its task runs
// (and subflows), and its logs.

import { useState } from "preact/hooks";
import { api } from "../lib/api.js";
import { usePoll } from "../lib/hooks.js";
import { LogView } from "../lib/logs.js";
import { ErrorBox, Loading, StateBadge, Tags, clock, duration, html, runTime, seconds, when } from "../lib/ui.js";

const LIVE = ["SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING"];
// A worker can run these again: runs of a deployment that did not complete.
const RETRIABLE = ["FAILED", "CANCELLED", "CRASHED"];

export function StateHistory({ states }) {
  return html`<ol class="history" aria-label="State history">
    ${states.map((s) => html`<li><${StateBadge} state=${s} /> <time class="muted">${when(s.timestamp)}</time>
      ${s.message && html` <span class="muted">${s.message}</span>`}</li>`)}
  </ol>`;
}

const ROW = 24; // px per timeline row: the dependency lines are drawn on this grid

/** Where each run's bar sits on the track, in % of the span from `begin`. */
function bars(runs, begin, span, now) {
  return runs.map((run) => {
    const start = run.start_time ? new Date(run.start_time).getTime() : null;
    const end = run.end_time ? new Date(run.end_time).getTime() : now;
    const left = start == null ? 0 : ((start - begin) / span) * 100;
    return { run, started: start != null, left, width: start == null ? 0 : Math.max(((end - start) / span) * 100, 0.5) };
  });
}

/** A curve from the end of each upstream run's bar to the start of the run that waited for it. */
function DependencyLines({ rows }) {
  const index = Object.fromEntries(rows.map((row, i) => [row.run.id, i]));
  const lines = rows.flatMap((row, i) =>
    [...new Set(Object.values(row.run.task_inputs || {}).flat().map((input) => input.id))]
      .filter((id) => id in index)
      .map((id) => {
        const from = rows[index[id]];
        const [x1, y1, x2, y2] = [from.left + from.width, index[id] * ROW + ROW / 2, row.left, i * ROW + ROW / 2];
        const mid = (x1 + x2) / 2;
        return html`<path d=${`M${x1} ${y1} C${mid} ${y1} ${mid} ${y2} ${x2} ${y2}`} vector-effect="non-scaling-stroke" />`;
      }),
  );
  if (!lines.length) return null;
  const height = rows.length * ROW;
  return html`<svg class="gantt-deps" viewBox=${`0 0 100 ${height}`} preserveAspectRatio="none" style=${`height:${height}px`} aria-hidden="true">${lines}</svg>`;
}

/**
 * A Gantt of `runs` (task runs) over the span of `parent`: each bar links to its run's page (a
 * subflow's to its flow run), and lines join each run to the runs it waited for.
 */
export function Timeline({ runs, parent, subflows = {}, now = Date.now() }) {
  if (!runs.length) return html`<p class="muted">No task runs</p>`;
  const starts = runs.map((r) => (r.start_time ? new Date(r.start_time).getTime() : null)).filter((t) => t != null);
  const ends = runs.map((r) => (r.end_time ? new Date(r.end_time).getTime() : now));
  const begin = Math.min(...starts, parent.start_time ? new Date(parent.start_time).getTime() : Infinity);
  const finish = Math.max(...ends, parent.end_time ? new Date(parent.end_time).getTime() : 0, begin + 1);
  const span = finish - begin || 1;
  const names = Object.fromEntries(runs.map((r) => [r.id, r.name]));
  const sorted = [...runs].sort((a, b) => new Date(a.start_time || a.created) - new Date(b.start_time || b.created));
  const rows = bars(sorted, begin, span, now);
  return html`<div class="gantt" role="list" aria-label="Timeline">
    <div class="gantt-scale muted" aria-hidden="true"><span>${clock(new Date(begin).toISOString())}</span><span>${seconds(span / 1000)}</span></div>
    <div class="gantt-rows">
    <${DependencyLines} rows=${rows} />
    ${rows.map(({ run, started, left, width }) => {
      const upstream = Object.values(run.task_inputs || {}).flat().map((i) => names[i.id]).filter(Boolean);
      const child = subflows[run.id];
      const label = `${run.name}${child ? " (subflow)" : ""}, ${run.state?.name || ""}${run.start_time ? `, ${duration(run, now)}` : ", not started"}`;
      return html`<div class="gantt-row" role="listitem" key=${run.id}>
        <a class="gantt-name" href=${child ? `#/runs/${child}` : `#/task-runs/${run.id}`} aria-label=${label}>${child ? "↳ " : ""}${run.name}</a>
        <span class="gantt-track">
          ${started && html`<span class=${`gantt-bar state-bg-${run.state?.type}`} style=${`left:${left}%;width:${width}%`}
            title=${`${run.name}: ${run.state?.name} ${duration(run, now)}`}></span>`}
        </span>
        <span class="gantt-meta"><${StateBadge} state=${run.state} /> ${duration(run, now)}
          ${run.run_count > 1 && html` <span class="attempts">${run.run_count} attempts</span>`}
          ${upstream.length > 0 && html` <span class="muted" title=${[...new Set(upstream)].join(", ")}>after ${[...new Set(upstream)].join(", ")}</span>`}</span>
      </div>`;
    })}
    </div>
  </div>`;
}

export function Actions({ run, kind = "flow_runs", reload }) {
  const [message, setMessage] = useState(null);
  const type = run.state?.type;
  const propose = (state) => async () => {
    setMessage(null);
    try {
      const answer = await api(`/${kind}/${run.id}/set_state`, { body: { state } });
      if (answer.status !== "ACCEPT") setMessage(answer.details?.reason || `The server answered ${answer.status}`);
    } catch (error) {
      setMessage(error.message);
    }
    reload();
  };
  // Retry: the server schedules a deployed run again (the same run, AwaitingRetry) or says why not.
  const retry = async () => {
    setMessage(null);
    try {
      await api(`/${kind}/${run.id}/retry`, { method: "POST" });
    } catch (error) {
      setMessage(error.message);
    }
    reload();
  };
  return html`<p class="actions">
    ${type === "PAUSED" && html`<button type="button" onClick=${propose({ type: "RUNNING", message: "Resumed from the dashboard" })}>Resume</button>`}
    ${["SCHEDULED", "PENDING", "RUNNING", "PAUSED"].includes(type) &&
    html`<button type="button" class="danger" onClick=${propose({ type: "CANCELLING", message: "Cancelled from the dashboard" })}>Cancel run</button>`}
    ${kind === "flow_runs" && RETRIABLE.includes(type) && run.deployment_name && html`<button type="button" onClick=${retry}>Retry</button>`}
    ${message && html`<span class="error" role="alert">${message}</span>`}
  </p>`;
}

export function Parameters({ parameters }) {
  const text = JSON.stringify(parameters || {}, null, 2);
  const large = text.length > 400 || text.split("\n").length > 12;
  return html`<details class="parameters" open=${!large}>
    <summary>Parameters (${Object.keys(parameters || {}).length})</summary>
    <pre>${text}</pre>
  </details>`;
}

/** {task_run_id: child flow run id} for the subflows among `run`'s task runs (task key `subflow.NAME`). */
async function findSubflows(run) {
  const calls = run.task_runs.filter((t) => t.task_key.startsWith("subflow."));
  const flows = [...new Set(calls.map((t) => t.task_key.slice("subflow.".length)))].slice(0, 10);
  const since = new Date(new Date(run.created).getTime() - 1000).toISOString();
  const pages = await Promise.all(flows.map((flow) => api("/flow_runs", { params: { flow_name: flow, since, limit: 200, sort: "oldest" } })));
  const wanted = new Set(calls.map((t) => t.id));
  return Object.fromEntries(pages.flatMap((page) => page.items).filter((r) => wanted.has(r.parent_task_run_id)).map((r) => [r.parent_task_run_id, r.id]));
}

export function FlowRunPage({ id }) {
  const detail = usePoll(() => api(`/flow_runs/${id}`), [id]);
  const run = detail.data;
  const subflowCount = run ? run.task_runs.filter((t) => t.task_key.startsWith("subflow.")).length : 0;
  const subflows = usePoll(() => (run && subflowCount ? findSubflows(run).catch(() => ({})) : Promise.resolve({})), [id, subflowCount]);
  if (!run) return detail.error ? html`<h1>Flow run</h1><${ErrorBox} error=${detail.error} />` : html`<${Loading} />`;
  const taskNames = Object.fromEntries(run.task_runs.map((t) => [t.id, t.name]));
  const time = runTime(run);
  const commit = run.labels?.["mintaka.git.commit"];
  return html`<article class="run-page">
    <h1><a href=${`#/runs?flow=${encodeURIComponent(run.flow_name)}`}>${run.flow_name}</a> / ${run.name} <${StateBadge} state=${run.state} /></h1>
    <p class="muted mono">${run.id}</p>
    <${ErrorBox} error=${detail.error} />
    ${run.state?.message && html`<p class=${run.state.type === "COMPLETED" ? "message" : "message error"}>${run.state.message}</p>`}
    <${Actions} run=${run} reload=${detail.reload} />
    <dl class="facts">
      <dt>${time.label}</dt><dd>${time.text}</dd>
      <dt>Duration</dt><dd>${duration(run) || "—"}</dd>
      <dt>Attempts</dt><dd>${run.run_count}</dd>
      ${run.deployment_name && html`<dt>Deployment</dt><dd><a href=${`#/deployments/${run.deployment_name}`}>${run.deployment_name}</a></dd>`}
      ${run.work_queue_name && html`<dt>Work queue</dt><dd>${run.work_queue_name}</dd>`}
      ${run.flow_version && html`<dt>Version</dt><dd class="mono">${run.flow_version}</dd>`}
      ${commit && html`<dt>Commit</dt><dd class="mono">${commit}</dd>`}
      ${run.state?.data && html`<dt>Result</dt><dd class="mono">${JSON.stringify(run.state.data)}</dd>`}
      ${run.parent_task_run_id && html`<dt>Parent</dt><dd><a href=${`#/task-runs/${run.parent_task_run_id}`}>the task run that called it</a></dd>`}
      ${run.tags?.length > 0 && html`<dt>Tags</dt><dd><${Tags} tags=${run.tags} /></dd>`}
    </dl>
    <${Parameters} parameters=${run.parameters} />
    <h2>State history</h2>
    <${StateHistory} states=${run.states} />
    <h2>Task runs (${run.task_runs.length})</h2>
    <${Timeline} runs=${run.task_runs} parent=${run} subflows=${subflows.data || {}} />
    <h2>Logs</h2>
    <${LogView} path=${`/flow_runs/${id}/logs`} live=${LIVE.includes(run.state?.type)} taskNames=${taskNames} />
  </article>`;
}
