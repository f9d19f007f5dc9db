// Work queues: depth, running, an editable concurrency limit, pause and resume.

import { useState } from "preact/hooks";
import { api } from "../lib/api.js";
import { usePoll } from "../lib/hooks.js";
import { ErrorBox, Loading, html } from "../lib/ui.js";

function LimitEditor({ queue, onSaved }) {
  const [value, setValue] = useState(queue.concurrency_limit ?? "");
  const [error, setError] = useState(null);
  const save = async (event) => {
    event.preventDefault();
    try {
      const limit = value === "" ? null : Number(value);
      await api(`/work_queues/${encodeURIComponent(queue.name)}`, { method: "PATCH", body: { concurrency_limit: limit } });
      setError(null);
      onSaved();
    } catch (e) {
      setError(e.message);
    }
  };
  return html`<form class="inline" onSubmit=${save}>
    <input type="number" min="0" step="1" value=${value} onInput=${(e) => setValue(e.target.value)}
      aria-label=${`Concurrency limit of ${queue.name}`} placeholder="none" />
    <button type="submit" aria-label=${`Save the concurrency limit of ${queue.name}`}>Save</button>
    ${error && html`<span class="error" role="alert">${error}</span>`}
  </form>`;
}

const Status = ({ paused }) =>
  paused
    ? html`<span class="state state-PAUSED"><span class="state-icon" aria-hidden="true">‖</span> Paused</span>`
    : html`<span class="state state-RUNNING"><span class="state-icon" aria-hidden="true">▶</span> Active</span>`;

export function QueueTable({ queues, compact, reload }) {
  const [error, setError] = useState(null);
  if (!queues.length) return html`<p class="muted">No work queues yet (a deployment creates its queue).</p>`;
  const toggle = (queue) => async () => {
    try {
      await api(`/work_queues/${encodeURIComponent(queue.name)}`, { method: "PATCH", body: { paused: !queue.paused } });
      setError(null);
    } catch (e) {
      setError(e);
    }
    reload();
  };
  return html`<${ErrorBox} error=${error} />
    <table class="queues" aria-label="Work queues">
      <thead><tr><th>Queue</th><th>Status</th><th>Waiting</th><th>Running</th><th>Concurrency limit</th>${!compact && html`<th>Actions</th>`}</tr></thead>
      <tbody>${queues.map((q) => html`<tr key=${q.name} data-queue=${q.name}>
        <td>${compact ? html`<a href="#/work-queues">${q.name}</a>` : q.name}</td>
        <td><${Status} paused=${q.paused} /></td>
        <td>${q.depth}</td>
        <td>${q.running}</td>
        <td>${compact ? (q.concurrency_limit ?? "none") : html`<${LimitEditor} key=${`${q.name}:${q.concurrency_limit}`} queue=${q} onSaved=${reload} />`}</td>
        ${!compact && html`<td><button type="button" onClick=${toggle(q)} aria-label=${`${q.paused ? "Resume" : "Pause"} ${q.name}`}>${q.paused ? "Resume" : "Pause"}</button></td>`}
      </tr>`)}</tbody>
    </table>`;
}

/** Queues with their depth (runs due and waiting) and running counts. */
export const readQueues = () => api("/work_queue_status");

export function WorkQueuesPage() {
  const queues = usePoll(readQueues, []);
  return html`<h1>Work queues</h1>
    <${ErrorBox} error=${queues.error} />
    ${queues.data ? html`<${QueueTable} queues=${queues.data} reload=${queues.reload} />` : !queues.error && html`<${Loading} />`}`;
}
