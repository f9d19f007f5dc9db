// Shared pieces: the `html` tag, the theme, state badges (icon + text + colour), times and durations, tables.

import htm from "htm";
import { h } from "preact";

export const html = htm.bind(h);

/** Applies the stored theme and palette to the page (the first paint too; the settings page sets them). */
export function applyTheme() {
  const dark = window.matchMedia?.("(prefers-color-scheme: dark)").matches;
  document.documentElement.dataset.theme = localStorage.getItem("mintaka.theme") || (dark ? "dark" : "light");
  document.documentElement.dataset.palette = localStorage.getItem("mintaka.palette") || "standard";
  window.dispatchEvent(new Event("mintaka:theme"));
}

export const STATE_ICONS = {
  SCHEDULED: "◷",
  LATE: "◔",
  PENDING: "…",
  RUNNING: "▶",
  PAUSED: "‖",
  COMPLETED: "✓",
  FAILED: "✕",
  CANCELLING: "⊘",
  CANCELLED: "⊘",
  CRASHED: "⚠",
};

/** The key a state is drawn by: its type, or LATE for a late scheduled run. */
export const stateKey = (state) => (state && state.type === "SCHEDULED" && state.name === "Late" ? "LATE" : state?.type || "PENDING");

const titleCase = (type) => type.charAt(0) + type.slice(1).toLowerCase();

export function StateBadge({ state, type }) {
  if (!state && !type) return null;
  const key = state ? stateKey(state) : type;
  const text = state ? state.name || titleCase(state.type) : titleCase(type);
  return html`<span class=${`state state-${key}`} title=${state?.message || text}
    ><span class="state-icon" aria-hidden="true">${STATE_ICONS[key] || "•"}</span>${" "}<span class="state-name">${text}</span></span
  >`;
}

export const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");
export const clock = (iso) => (iso ? new Date(iso).toLocaleTimeString() : "");

export function seconds(value) {
  if (value == null || Number.isNaN(value)) return "";
  if (value < 1) return `${Math.round(value * 1000)} ms`;
  if (value < 60) return `${value.toFixed(1)} s`;
  if (value < 3600) return `${Math.floor(value / 60)} min ${Math.round(value % 60)} s`;
  return `${Math.floor(value / 3600)} h ${Math.round((value % 3600) / 60)} min`;
}

/** A run's duration, growing while it runs. */
export function duration(run, now = Date.now()) {
  if (!run.start_time) return "";
  const end = run.end_time ? new Date(run.end_time).getTime() : now;
  return seconds((end - new Date(run.start_time).getTime()) / 1000);
}

/** "in 5 min" / "3 min ago". */
export function relative(iso, now = Date.now()) {
  if (!iso) return "";
  const delta = (new Date(iso).getTime() - now) / 1000;
  const text = seconds(Math.abs(delta)).replace(/ \d+ (s|min)$/, "");
  return delta >= 0 ? `in ${text}` : `${text} ago`;
}

/** The time a list shows for a run: when it is due while scheduled, else when it started. */
export function runTime(run) {
  const due = run.expected_start_time || run.next_scheduled_start_time;
  if (run.state?.type === "SCHEDULED" && due) return { label: "Due", text: `${when(due)} (${relative(due)})` };
  if (run.start_time) return { label: "Started", text: when(run.start_time) };
  return { label: "Created", text: when(run.created) };
}

export const Tags = ({ tags }) => html`${(tags || []).map((t) => html`<span class="tag">${t}</span>`)}`;

export function ErrorBox({ error }) {
  if (!error) return null;
  return html`<p class="error" role="alert">${error.message || String(error)}</p>`;
}

export const Loading = () => html`<p class="muted" role="status">Loading…</p>`;

export function RunTable({ runs, empty, label = "Flow runs" }) {
  if (!runs.length) return html`<p class="muted empty">${empty}</p>`;
  return html`<table class="runs" aria-label=${label}>
    <thead><tr><th>Run</th><th>Flow</th><th>State</th><th>When</th><th>Duration</th><th>Tags</th></tr></thead>
    <tbody>
      ${runs.map((run) => {
        const time = runTime(run);
        return html`<tr key=${run.id} data-run=${run.id}>
          <td><a href=${`#/runs/${run.id}`}>${run.name}</a></td>
          <td><a href=${`#/runs?flow=${encodeURIComponent(run.flow_name)}`}>${run.flow_name}</a></td>
          <td><${StateBadge} state=${run.state} /></td>
          <td><span class="muted">${time.label}</span> ${time.text}</td>
          <td>${duration(run)}</td>
          <td><${Tags} tags=${run.tags} /></td>
        </tr>`;
      })}
    </tbody>
  </table>`;
}
