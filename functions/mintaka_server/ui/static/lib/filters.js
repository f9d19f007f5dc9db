// The filter bar on every run list: fields and a typed query, both written to the URL.

import { useEffect, useState } from "preact/hooks";
import { api } from "./api.js";
import { navigate } from "./hooks.js";
import { STATE_TYPES, parseText, toParams, toText } from "./query.js";
import { html } from "./ui.js";

const RANGES = [["", "Any time"], ["1h", "Last hour"], ["24h", "Last 24 hours"], ["7d", "Last 7 days"], ["30d", "Last 30 days"]];

export const viewsChanged = () => window.dispatchEvent(new Event("mintaka:views"));

/** `only`: the fields this page can filter by (the dashboard's counts know flow and deployment). */
export function FilterBar({ filters, path, only }) {
  const shown = (key) => !only || only.includes(key);
  const [text, setText] = useState(toText(filters));
  const [error, setError] = useState(null);
  const [saving, setSaving] = useState(false);
  const [viewName, setViewName] = useState("");
  useEffect(() => setText(toText(filters)), [toText(filters)]);
  const go = (next) => navigate(path, toParams(next));
  const field = (key) => (event) => go({ ...filters, [key]: event.target.value });

  const onQuery = (event) => {
    event.preventDefault();
    try {
      go(parseText(text));
      setError(null);
    } catch (e) {
      setError(e.message);
    }
  };
  const onSave = async (event) => {
    event.preventDefault();
    try {
      await api(`/saved_views/${encodeURIComponent(viewName.trim())}`, { method: "PUT", body: { query: toText(filters) } });
      setSaving(false);
      setViewName("");
      setError(null);
      viewsChanged();
    } catch (e) {
      setError(`Could not save the view: ${e.message}`);
    }
  };

  return html`<section class="filters" aria-label="Filters">
    ${!only && html`<form class="query" role="search" onSubmit=${onQuery}>
      <label for="query-input">Query</label>
      <input id="query-input" type="search" value=${text} onInput=${(e) => setText(e.target.value)}
        placeholder="state:failed flow:etl tag:nightly since:7d" autocomplete="off" />
      <button type="submit">Apply</button>
      ${saving
        ? html`<span class="save-view">
            <label for="view-name">View name</label>
            <input id="view-name" value=${viewName} onInput=${(e) => setViewName(e.target.value)} maxlength="100" />
            <button type="button" onClick=${onSave} disabled=${!viewName.trim()}>Save</button>
            <button type="button" onClick=${() => setSaving(false)}>Cancel</button>
          </span>`
        : html`<button type="button" onClick=${() => setSaving(true)}>Save view</button>`}
    </form>`}
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <div class="fields">
      ${shown("flow") && html`<label>Flow <input value=${filters.flow} onChange=${field("flow")} placeholder=${only ? "exact name" : "any"} /></label>`}
      ${shown("deployment") && html`<label>Deployment <input value=${filters.deployment} onChange=${field("deployment")} placeholder="FLOW/NAME" /></label>`}
      ${shown("state") && html`<label>State
        <select value=${filters.state.length === 1 ? filters.state[0] : ""} onChange=${(e) => go({ ...filters, state: e.target.value ? [e.target.value] : [] })}>
          <option value="">${filters.state.length > 1 ? filters.state.join(", ").toLowerCase() : "Any state"}</option>
          ${STATE_TYPES.map((s) => html`<option value=${s}>${s.charAt(0) + s.slice(1).toLowerCase()}</option>`)}
        </select>
      </label>`}
      ${shown("tag") && html`<label>Tag <input value=${filters.tag.join(" ")} onChange=${(e) => go({ ...filters, tag: e.target.value.split(/\s+/).filter(Boolean) })} /></label>`}
      ${shown("since") && html`<label>Time range
        <select value=${filters.since} onChange=${field("since")}>
          ${RANGES.map(([value, text]) => html`<option value=${value}>${text}</option>`)}
          ${filters.since && !RANGES.some(([v]) => v === filters.since) && html`<option value=${filters.since}>since ${filters.since}</option>`}
        </select>
      </label>`}
      ${shown("name") && html`<label>Name <input type="search" value=${filters.name} onChange=${field("name")} placeholder="contains" /></label>`}
      <button type="button" onClick=${() => go({ state: [], tag: [] })}>Clear filters</button>
    </div>
  </section>`;
}
