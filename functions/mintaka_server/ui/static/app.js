// Mintaka dashboard: Preact + htm as vendored ES modules (no build step), hash-routed, polling
// the JSON API (only its public endpoints: anything the page does, a script can do).

import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, onKeyNeeded, saveKey } from "./lib/api.js";
import { usePoll, useRoute } from "./lib/hooks.js";
import { parseText, toParams } from "./lib/query.js";
import { ErrorBox, Loading, applyTheme, html } from "./lib/ui.js";
import { DashboardPage } from "./pages/dashboard.js";

// The other pages load when first opened (and in the background once the dashboard is up), so
// the dashboard's first paint waits only for its own modules (index.html preloads those).
const PAGES = {
  runs: () => import("./pages/runs.js"),
  run: () => import("./pages/run.js"),
  taskRun: () => import("./pages/task_run.js"),
  flows: () => import("./pages/flows.js"),
  deployments: () => import("./pages/deployments.js"),
  workQueues: () => import("./pages/work_queues.js"),
  limits: () => import("./pages/limits.js"),
  settings: () => import("./pages/settings.js"),
};
const loaded = {};

function Lazy({ module, component, ...props }) {
  const [state, setState] = useState(loaded[module] ? { module: loaded[module] } : {});
  useEffect(() => {
    if (state.module) return;
    PAGES[module]().then(
      (m) => setState({ module: (loaded[module] = m) }),
      (error) => setState({ error }),
    );
  }, [module]);
  if (state.error) return html`<${ErrorBox} error=${state.error} />`;
  if (!state.module) return html`<${Loading} />`;
  const Page = state.module[component];
  return html`<${Page} ...${props} />`;
}

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
  if (first === "runs" && rest.length) return html`<${Lazy} key=${`run/${rest[0]}`} module="run" component="FlowRunPage" id=${rest[0]} />`;
  if (first === "runs") return html`<${Lazy} key="runs" module="runs" component="RunsPage" query=${query} />`;
  if (first === "task-runs" && rest.length)
    return html`<${Lazy} key=${`task/${rest[0]}`} module="taskRun" component="TaskRunPage" id=${rest[0]} />`;
  if (first === "flows") return html`<${Lazy} key="flows" module="flows" component="FlowsPage" />`;
  if (first === "deployments" && rest.length >= 2)
    return html`<${Lazy} key="deployment" module="deployments" component="DeploymentPage"
      flowName=${decodeURIComponent(rest[0])} name=${decodeURIComponent(rest.slice(1).join("/"))} />`;
  if (first === "deployments") return html`<${Lazy} key="deployments" module="deployments" component="DeploymentsPage" />`;
  if (first === "work-queues") return html`<${Lazy} key="queues" module="workQueues" component="WorkQueuesPage" />`;
  if (first === "concurrency-limits") return html`<${Lazy} key="limits" module="limits" component="LimitsPage" />`;
  if (first === "settings") return html`<${Lazy} key="settings" module="settings" component="SettingsPage" />`;
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
// The other pages' modules, fetched once the dashboard has painted (not beside its first requests).
let prefetched = false;
const prefetch = () => {
  if (prefetched) return;
  prefetched = true;
  const whenIdle = window.requestIdleCallback || ((callback) => setTimeout(callback, 0));
  whenIdle(() => Object.values(PAGES).forEach((load) => load().catch(() => null)), { timeout: 2000 });
};
window.addEventListener("mintaka:painted", prefetch, { once: true });
setTimeout(prefetch, 3000); // opened on another page
