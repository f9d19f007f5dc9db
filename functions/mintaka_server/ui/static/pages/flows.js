// Flows: each flow's last run and its runs per state over the last 7 days.

import { api } from "../lib/api.js";
import { usePoll } from "../lib/hooks.js";
import { ErrorBox, Loading, StateBadge, html, when } from "../lib/ui.js";

export function FlowsPage() {
  const flows = usePoll(() => api("/flows/summary"), []);
  const list = flows.data || [];
  return html`<h1>Flows</h1>
    <${ErrorBox} error=${flows.error} />
    ${!flows.data && !flows.error && html`<${Loading} />`}
    ${flows.data && list.length === 0 && html`<p class="muted">No flows yet: run one and it shows up here.</p>`}
    ${list.length > 0 &&
    html`<table aria-label="Flows">
      <thead><tr><th>Flow</th><th>Last run</th><th>Runs in the last 7 days</th><th>Created</th></tr></thead>
      <tbody>${list.map((flow) => html`<tr key=${flow.id}>
        <td><a href=${`#/runs?flow=${encodeURIComponent(flow.name)}`}>${flow.name}</a></td>
        <td>${flow.last_run
          ? html`<${StateBadge} state=${flow.last_run.state} /> <a href=${`#/runs/${flow.last_run.id}`}>${flow.last_run.name}</a>`
          : html`<span class="muted">never</span>`}</td>
        <td>${Object.entries(flow.run_counts).map(([type, n]) => html`<span class="mini-count"><${StateBadge} type=${type} /> ${n}</span> `)}</td>
        <td>${when(flow.created)}</td>
      </tr>`)}</tbody>
    </table>`}`;
}
