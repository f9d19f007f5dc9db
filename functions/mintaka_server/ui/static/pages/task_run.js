// A task run: its state, attempts, inputs, state history and its own log lines.

import { api } from "../lib/api.js";
import { usePoll } from "../lib/hooks.js";
import { LogView } from "../lib/logs.js";
import { ErrorBox, Loading, StateBadge, Tags, duration, html, when } from "../lib/ui.js";
import { StateHistory } from "./run.js";

const LIVE = ["SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING"];

export function TaskRunPage({ id }) {
  const detail = usePoll(async () => {
    const [run, states] = await Promise.all([api(`/task_runs/${id}`), api(`/task_runs/${id}/states`)]);
    return { run, states };
  }, [id]);
  if (!detail.data) return detail.error ? html`<h1>Task run</h1><${ErrorBox} error=${detail.error} />` : html`<${Loading} />`;
  const { run, states } = detail.data;
  const upstream = Object.entries(run.task_inputs || {}).flatMap(([name, inputs]) =>
    inputs.filter((i) => i.id).map((i) => html`<li>${name}: <a href=${`#/task-runs/${i.id}`}>upstream task run</a></li>`),
  );
  return html`<article class="run-page">
    <h1>${run.name} <${StateBadge} state=${run.state} /></h1>
    <p class="muted mono">${run.id}</p>
    <${ErrorBox} error=${detail.error} />
    ${run.state?.message && html`<p class=${run.state.type === "COMPLETED" ? "message" : "message error"}>${run.state.message}</p>`}
    <dl class="facts">
      ${run.flow_run_id && html`<dt>Flow run</dt><dd><a href=${`#/runs/${run.flow_run_id}`}>open the flow run</a></dd>`}
      <dt>Task</dt><dd class="mono">${run.task_key}</dd>
      <dt>Started</dt><dd>${when(run.start_time) || "—"}</dd>
      <dt>Duration</dt><dd>${duration(run) || "—"}</dd>
      <dt>Attempts</dt><dd>${run.run_count}</dd>
      ${run.tags?.length > 0 && html`<dt>Tags</dt><dd><${Tags} tags=${run.tags} /></dd>`}
    </dl>
    ${upstream.length > 0 && html`<h2>Upstream</h2><ul>${upstream}</ul>`}
    <h2>State history</h2>
    <${StateHistory} states=${states} />
    <h2>Logs</h2>
    <${LogView} path=${`/task_runs/${id}/logs`} live=${LIVE.includes(run.state?.type)} />
  </article>`;
}
