// Deployments: schedules in words with their time zone, next runs, pause and resume, and Run with
// a parameter form made from the flow's parameter schema.

import { useState } from "preact/hooks";
import { api } from "../lib/api.js";
import { navigate, usePoll } from "../lib/hooks.js";
import { ErrorBox, Loading, RunTable, html, relative, when } from "../lib/ui.js";

// cRonstrue is a classic script (a global): loaded with this page, not with the dashboard, at
// the versioned URL the import map gives it.
await new Promise((resolve) => {
  if (window.cronstrue) return resolve();
  const script = Object.assign(document.createElement("script"), { src: import.meta.resolve("../vendor/cronstrue/cronstrue.min.js") });
  script.onload = script.onerror = resolve; // without it, schedules show as cron
  document.head.append(script);
});

function cronWords(cron) {
  try {
    return window.cronstrue ? window.cronstrue.toString(cron, { use24HourTimeFormat: true }) : cron;
  } catch {
    return cron;
  }
}

function intervalWords(seconds) {
  const units = [[86400, "day"], [3600, "hour"], [60, "minute"], [1, "second"]];
  const [size, name] = units.find(([s]) => seconds % s === 0 && seconds >= s) || [1, "second"];
  const n = seconds / size;
  return n === 1 ? `Every ${name}` : `Every ${n} ${name}s`;
}

/** A schedule in words, with its time zone. */
export function scheduleWords(schedule) {
  const words =
    schedule.type === "cron" ? cronWords(schedule.cron)
    : schedule.type === "interval" ? intervalWords(schedule.interval_seconds)
    : `Rule ${schedule.rrule}`;
  return `${words} (${schedule.timezone || "UTC"})${schedule.active === false ? ", inactive" : ""}`;
}

function Schedules({ deployment }) {
  const list = deployment.schedules || [];
  if (!list.length) return html`<span class="muted">No schedule</span>`;
  return html`${list.map((s, i) => html`${i > 0 && "; "}<span title=${s.cron || s.rrule || ""}>${scheduleWords(s)}</span>`)}`;
}

export function DeploymentsPage() {
  const deployments = usePoll(() => api("/deployments"), []);
  const list = deployments.data || [];
  return html`<h1>Deployments</h1>
    <${ErrorBox} error=${deployments.error} />
    ${!deployments.data && !deployments.error && html`<${Loading} />`}
    ${deployments.data && list.length === 0 && html`<p class="muted">No deployments. <code>mintaka deploy FILE:FLOW --name NAME</code> makes one.</p>`}
    ${list.length > 0 &&
    html`<table aria-label="Deployments">
      <thead><tr><th>Deployment</th><th>Schedule</th><th>Work queue</th><th>Infrastructure</th></tr></thead>
      <tbody>${list.map((d) => html`<tr key=${d.id}>
        <td><a href=${`#/deployments/${d.flow_name}/${d.name}`}>${d.flow_name}/${d.name}</a></td>
        <td>${d.schedule_paused ? html`<span class="state state-PAUSED"><span aria-hidden="true">‖</span> Paused</span> ` : ""}<${Schedules} deployment=${d} /></td>
        <td>${d.work_queue_name}</td><td>${d.infrastructure}</td>
      </tr>`)}</tbody>
    </table>`}`;
}

function fieldType(spec) {
  if (spec.type) return Array.isArray(spec.type) ? spec.type.find((t) => t !== "null") : spec.type;
  const any = (spec.anyOf || []).map((s) => s.type).filter((t) => t && t !== "null");
  return any[0] || "any";
}

// Form text → JSON by the schema's type; what does not parse is sent as typed, for the server's
// validator to name.
function convert(text, type) {
  if (text === "") return undefined;
  if (type === "integer" && /^-?\d+$/.test(text.trim())) return Number(text);
  if (type === "number" && text.trim() !== "" && !Number.isNaN(Number(text))) return Number(text);
  if (type === "boolean") return text === "true";
  if (["array", "object", "any"].includes(type)) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

function RunForm({ deployment, onCreated }) {
  const schema = deployment.parameter_schema || { properties: {} };
  const properties = schema.properties || {};
  const required = new Set(schema.required || []);
  const initial = Object.fromEntries(
    Object.entries(properties).map(([name, spec]) => {
      const value = deployment.parameters?.[name] ?? spec.default;
      return [name, value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value)];
    }),
  );
  const [values, setValues] = useState(initial);
  const [runName, setRunName] = useState("");
  const [tags, setTags] = useState("");
  const [error, setError] = useState(null);
  const submit = async (event) => {
    event.preventDefault();
    const parameters = {};
    for (const [name, spec] of Object.entries(properties)) {
      const value = convert(values[name] ?? "", fieldType(spec));
      if (value !== undefined) parameters[name] = value;
    }
    const body = { parameters, tags: tags.split(/[\s,]+/).filter(Boolean) };
    if (runName.trim()) body.name = runName.trim();
    try {
      const run = await api(`/deployments/${deployment.flow_name}/${deployment.name}/runs`, { body });
      setError(null);
      onCreated(run);
    } catch (e) {
      setError(e.message);
    }
  };
  return html`<form class="run-form" onSubmit=${submit} aria-label="Run this deployment">
    ${Object.entries(properties).map(([name, spec]) => {
      const type = fieldType(spec);
      const id = `param-${name}`;
      return html`<div class="field">
        <label for=${id}>${spec.title || name}${required.has(name) ? " *" : ""}</label>
        ${type === "boolean"
          ? html`<select id=${id} value=${values[name]} onChange=${(e) => setValues({ ...values, [name]: e.target.value })}>
              <option value="">(default)</option><option value="true">true</option><option value="false">false</option></select>`
          : html`<input id=${id} name=${name} value=${values[name]} required=${required.has(name)} inputmode=${["integer", "number"].includes(type) ? "decimal" : undefined}
              aria-describedby=${`${id}-help`} onInput=${(e) => setValues({ ...values, [name]: e.target.value })} />`}
        <small class="muted" id=${`${id}-help`}>${type}${spec.description ? `: ${spec.description}` : ""}</small>
      </div>`;
    })}
    <div class="field"><label for="run-name">Run name</label><input id="run-name" value=${runName} onInput=${(e) => setRunName(e.target.value)} placeholder="generated" /></div>
    <div class="field"><label for="run-tags">Tags</label><input id="run-tags" value=${tags} onInput=${(e) => setTags(e.target.value)} placeholder="space separated" /></div>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <button type="submit">Create run</button>
  </form>`;
}

export function DeploymentPage({ flowName, name }) {
  const path = `/deployments/${flowName}/${name}`;
  const fullName = `${flowName}/${name}`;
  const deployment = usePoll(() => api(path), [path]);
  const upcoming = usePoll(() => api(`${path}/schedule`), [path]);
  const recent = usePoll(() => api("/flow_runs", { params: { deployment_name: fullName, limit: 10 } }), [path]);
  const [running, setRunning] = useState(false);
  const [error, setError] = useState(null);
  const d = deployment.data;
  if (!d) return deployment.error ? html`<h1>${fullName}</h1><${ErrorBox} error=${deployment.error} />` : html`<${Loading} />`;
  const toggle = async () => {
    try {
      await api(`${path}/${d.schedule_paused ? "resume_schedule" : "pause_schedule"}`, { method: "POST" });
      setError(null);
    } catch (e) {
      setError(e);
    }
    deployment.reload();
  };
  return html`<article>
    <h1>${fullName}</h1>
    ${d.description && html`<p>${d.description}</p>`}
    <${ErrorBox} error=${error} />
    <dl class="facts">
      <dt>Schedule</dt><dd>${d.schedule_paused && html`<strong>Paused: </strong>`}${upcoming.data?.schedules
        ? upcoming.data.schedules.map((s, i) => html`${i > 0 && "; "}<span>${s.description}${s.active === false ? ", inactive" : ""}</span>`)
        : html`<${Schedules} deployment=${d} />`}${(d.schedules || []).length === 0 && upcoming.data?.schedules && html`<span class="muted">No schedule</span>`}</dd>
      <dt>Work queue</dt><dd>${d.work_queue_name}</dd>
      <dt>Infrastructure</dt><dd>${d.infrastructure}</dd>
      ${d.version && html`<dt>Version</dt><dd class="mono">${d.version}</dd>`}
      <dt>Entrypoint</dt><dd class="mono">${d.entrypoint}</dd>
    </dl>
    <p class="actions">
      ${(d.schedules || []).length > 0 && html`<button type="button" onClick=${toggle}>${d.schedule_paused ? "Resume schedule" : "Pause schedule"}</button>`}
      <button type="button" onClick=${() => setRunning(!running)} aria-expanded=${running}>Run</button>
    </p>
    ${running && html`<${RunForm} deployment=${d} onCreated=${(run) => navigate(`/runs/${run.id}`)} />`}
    <h2>Next runs</h2>
    ${upcoming.data
      ? html`<${RunTable} runs=${upcoming.data.next_runs || []} label="Next runs"
            empty=${d.schedule_paused ? "None: the schedule is paused." : "No runs scheduled yet."} />
          ${(upcoming.data.next_fire_times || []).length > 0 &&
          html`<p>Next fire times: </p><ul class="fire-times" aria-label="Next fire times">
            ${upcoming.data.next_fire_times.map((t) => html`<li><time datetime=${t}>${when(t)}</time> (${relative(t)})</li>`)}</ul>`}`
      : html`<${ErrorBox} error=${upcoming.error} />`}
    <h2>Recent runs</h2>
    ${recent.data ? html`<${RunTable} runs=${recent.data.items} label="Recent runs" empty="No runs yet." />` : html`<${ErrorBox} error=${recent.error} />`}
  </article>`;
}
