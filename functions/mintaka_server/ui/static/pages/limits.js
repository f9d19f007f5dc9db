// Concurrency limits: slots used of the limit, and who holds them.

import { api } from "../lib/api.js";
import { usePoll } from "../lib/hooks.js";
import { ErrorBox, Loading, html } from "../lib/ui.js";

export function LimitsPage() {
  const limits = usePoll(() => api("/concurrency_limits"), []);
  const body = (list) =>
    list.length === 0
      ? html`<p class="muted">No concurrency limits. <code>mintaka concurrency-limit create TAG N</code> makes one.</p>`
      : html`<table aria-label="Concurrency limits">
          <thead><tr><th>Tag</th><th>Slots used</th><th>Holders</th></tr></thead>
          <tbody>${list.map((l) => html`<tr key=${l.tag}>
            <td><span class="tag">${l.tag}</span></td>
            <td><meter min="0" max=${Math.max(l.limit, 1)} value=${l.active_slots} aria-label=${`Slots used of ${l.tag}`}></meter> ${l.active_slots} / ${l.limit}</td>
            <td>${(l.holders || []).length
              ? html`<ul class="holders">${l.holders.map((h) => {
                  // Work-queue limits are held by flow runs, tag limits by task runs.
                  const kind = l.tag.startsWith("work-queue:") ? "runs" : "task-runs";
                  return html`<li><a href=${`#/${kind}/${h}`} class="mono">${h}</a></li>`;
                })}</ul>`
              : html`<span class="muted">${l.holders ? "none" : "—"}</span>`}</td>
          </tr>`)}</tbody>
        </table>`;
  return html`<h1>Concurrency limits</h1>
    <${ErrorBox} error=${limits.error} />
    ${limits.data ? body(limits.data) : !limits.error && html`<${Loading} />`}`;
}
