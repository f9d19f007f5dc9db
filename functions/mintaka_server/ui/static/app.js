// Mintaka dashboard: Preact + htm as vendored ES modules (no build step), hash-routed, polling
// the JSON API (only its public endpoints: anything the page does, a script can do).

import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, onKeyNeeded, saveKey } from "./lib/api.js";
import { usePoll, useRoute } from "./lib/hooks.js";
import { parseText, toParams } from "./lib/query.js";
import { html } from "./lib/ui.js";
import { DashboardPage } from "./pages/dashboard.js";
import { DeploymentPage, DeploymentsPage } from "./pages/deployments.js";
import { FlowsPage } from "./pages/flows.js";
import { LimitsPage } from "./pages/limits.js";
import { FlowRunPage } from "./pages/run.js";
import { RunsPage } from "./pages/runs.js";
import { SettingsPage, applyTheme } from "./pages/settings.js";
import { TaskRunPage } from "./pages/task_run.js";
import { WorkQueuesPage } from "./pages/work_queues.js";

const NAV = [
  ["/", "Dashboard"],
  ["/runs", "Flow runs"],
  ["/flows", "Flows"],
  ["/deployments", "Deployments"],
  ["/work-queues", "Work queues"],
  ["/concurrency-limits", "Concurrency limits"],
  ["/settings", "Settings"],
];

function page({ path, query }) {
  const [, first, ...rest] = path.split("/");
  if (first === "runs" && rest.length) return html`<${FlowRunPage} key=${rest[0]} id=${rest[0]} />`;
  if (first === "runs") return html`<${RunsPage} query=${query} />`;
  if (first === "task-runs" && rest.length) return html`<${TaskRunPage} key=${rest[0]} id=${rest[0]} />`;
  if (first === "flows") return html`<${FlowsPage} />`;
  if (first === "deployments" && rest.length >= 2)
    return html`<${DeploymentPage} flowName=${decodeURIComponent(rest[0])} name=${decodeURIComponent(rest.slice(1).join("/"))} />`;
  if (first === "deployments") return html`<${DeploymentsPage} />`;
  if (first === "work-queues") return html`<${WorkQueuesPage} />`;
  if (first === "concurrency-limits") return html`<${LimitsPage} />`;
  if (first === "settings") return html`<${SettingsPage} />`;
  if (!first) return html`<${DashboardPage} query=${query} />`;
  return html`<h1>Not found</h1><p>No page at <code>${path}</code>. <a href="#/">The dashboard</a>.</p>`;
}

function viewHref(query) {
  try {
    return `#/runs?${toParams(parseText(query))}`;
  } catch {
    return "#/runs";
  }
}

function SavedViews({ current }) {
  const views = usePoll(() => api("/saved_views"), [], { interval: 15000 });
  useEffect(() => {
    window.addEventListener("mintaka:views", views.reload);
    return () => window.removeEventListener("mintaka:views", views.reload);
  }, [views.reload]);
  if (views.error) return null; // a server without saved views: the sidebar shows none
  const remove = (name) => async () => {
    await api(`/saved_views/${encodeURIComponent(name)}`, { method: "DELETE" }).catch(() => null);
    views.reload();
  };
  return html`<nav class="views" aria-label="Saved views">
    <h2>Saved views</h2>
    ${(views.data || []).length === 0 && html`<p class="muted small">Filter the runs, then “Save view”.</p>`}
    <ul>${(views.data || []).map((view) => {
      const href = viewHref(view.query);
      return html`<li key=${view.name}>
        <a href=${href} title=${view.query} aria-current=${current === href ? "page" : undefined}>${view.name}</a>
        <button type="button" class="icon" onClick=${remove(view.name)} aria-label=${`Delete the view ${view.name}`}>×</button>
      </li>`;
    })}</ul>
  </nav>`;
}

function KeyDialog({ onDone }) {
  const [key, setKey] = useState("");
  return html`<div class="dialog-backdrop">
    <form class="dialog" role="dialog" aria-modal="true" aria-labelledby="key-title"
      onSubmit=${(e) => (e.preventDefault(), saveKey(key.trim()), onDone())}>
      <h2 id="key-title">This API needs an API key</h2>
      <label for="key-input">API key</label>
      <input id="key-input" type="password" value=${key} onInput=${(e) => setKey(e.target.value)} autocomplete="off" placeholder="mk_…" autofocus />
      <button type="submit">Save</button>
    </form>
  </div>`;
}

function App() {
  const route = useRoute();
  const [needKey, setNeedKey] = useState(false);
  const [generation, setGeneration] = useState(0);
  useEffect(() => onKeyNeeded(() => setNeedKey(true)), []);
  const current = window.location.hash || "#/";
  const section = `/${route.path.split("/")[1]}`;
  return html`<a class="skip" href="#main" onClick=${(e) => (e.preventDefault(), document.getElementById("main").focus())}>Skip to content</a>
    <aside class="sidebar">
      <a href="#/" class="brand" aria-label="Mintaka dashboard">✦ Mintaka</a>
      <nav aria-label="Pages"><ul>${NAV.map(([path, text]) => html`<li><a href=${`#${path}`}
        aria-current=${section === (path === "/" ? "/" : path) ? "page" : undefined}>${text}</a></li>`)}</ul></nav>
      <${SavedViews} current=${current} key=${generation} />
      <a class="muted small" href="../api/docs">API docs</a>
    </aside>
    <main id="main" tabindex="-1" key=${generation}>${page(route)}</main>
    ${needKey && html`<${KeyDialog} onDone=${() => (setNeedKey(false), setGeneration((n) => n + 1))} />`}`;
}

applyTheme();
const root = document.getElementById("app");
root.textContent = ""; // the "Loading…" placeholder
render(html`<${App} />`, root);
