// The dashboard: runs over time stacked by state, counts per state, late and failed runs first
// with their messages, and work-queue health, all through the filter bar.

import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import { api } from "../lib/api.js";
import { FilterBar } from "../lib/filters.js";
import { navigate, usePoll } from "../lib/hooks.js";
import { fromParams, toParams } from "../lib/query.js";
import { ErrorBox, Loading, RunTable, StateBadge, html, relative, when } from "../lib/ui.js";

// Range → bucket size: minutes for short ranges (a store that counts only per hour answers in
// hours, and the chart draws the buckets it gets), days for a month (midnight UTC).
const RANGES = [["1h", 3600, 300], ["6h", 6 * 3600, 900], ["24h", 86400, 3600], ["7d", 7 * 86400, 6 * 3600], ["30d", 30 * 86400, 86400]];
const ORDER = ["COMPLETED", "RUNNING", "PENDING", "SCHEDULED", "PAUSED", "CANCELLING", "CANCELLED", "CRASHED", "FAILED"];
const label = (type) => type.charAt(0) + type.slice(1).toLowerCase();
const per = (seconds) =>
  seconds % 86400 === 0 ? (seconds === 86400 ? "day" : `${seconds / 86400} days`)
    : seconds % 3600 === 0 ? (seconds === 3600 ? "hour" : `${seconds / 3600} hours`)
      : `${seconds / 60} minutes`;
const cssVars = () => {
  const style = getComputedStyle(document.documentElement); // one style read for the whole chart
  return (name) => style.getPropertyValue(name).trim() || "#888";
};

function StackedChart({ stats }) {
  const box = useRef(null);
  const [theme, setTheme] = useState(0);
  const [dataShown, setDataShown] = useState(false); // the table is made when opened, not with the first paint
  useEffect(() => {
    const onTheme = () => setTheme((n) => n + 1);
    window.addEventListener("mintaka:theme", onTheme);
    return () => window.removeEventListener("mintaka:theme", onTheme);
  }, []);
  // A layout effect: the chart is drawn before the browser paints the counts, in the same frame.
  useLayoutEffect(() => {
    if (!box.current) return undefined;
    const xs = stats.buckets.map((b) => new Date(b.start).getTime() / 1000);
    const types = ORDER.filter((t) => stats.buckets.some((b) => b.counts[t]));
    // Stacked by hand: each series is the running total, drawn tallest first so the shorter
    // ones paint over it; the tooltip still reads each state's own count.
    const totals = [];
    let running = xs.map(() => 0);
    for (const type of types) {
      running = running.map((sum, i) => sum + (stats.buckets[i].counts[type] || 0));
      totals.push({ type, values: running.map((n) => n || null) }); // no bar where there is none
    }
    totals.reverse();
    const bars = uPlot.paths.bars({ size: [0.8, 60] });
    const cssVar = cssVars();
    const axis = cssVar("--fg-muted");
    const chart = new uPlot(
      {
        width: box.current.clientWidth || 600,
        height: 220,
        legend: { show: false },
        cursor: { points: { show: false } },
        scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(max, 1)] } },
        axes: [{ stroke: axis, grid: { stroke: "transparent" } }, { stroke: axis, grid: { stroke: cssVar("--border") } }],
        series: [{}, ...totals.map(({ type }) => ({ label: label(type), fill: cssVar(`--state-${type}`), stroke: cssVar(`--state-${type}`), paths: bars, points: { show: false } }))],
      },
      [xs, ...totals.map((t) => t.values)],
      box.current,
    );
    const onResize = () => chart.setSize({ width: box.current.clientWidth || 600, height: 220 });
    window.addEventListener("resize", onResize);
    return () => {
      window.removeEventListener("resize", onResize);
      chart.destroy();
    };
  }, [JSON.stringify(stats.buckets), theme]);
  const rows = stats.buckets.filter((b) => Object.values(b.counts).some(Boolean));
  return html`<figure class="chart">
    <figcaption class="muted small">Runs per ${per(stats.bucket_seconds)}, by current state</figcaption>
    <div ref=${box} class="chart-canvas" role="img" aria-label="Flow runs over time, stacked by state"></div>
    <details class="chart-data" onToggle=${(e) => setDataShown(e.currentTarget.open)}>
      <summary>Chart data</summary>
      ${dataShown && html`<table aria-label="Runs per time bucket">
        <thead><tr><th>From</th>${ORDER.map((t) => html`<th>${label(t)}</th>`)}</tr></thead>
        <tbody>${rows.map((b) => html`<tr><td>${when(b.start)}</td>${ORDER.map((t) => html`<td>${b.counts[t] || 0}</td>`)}</tr>`)}</tbody>
      </table>`}
    </details>
  </figure>`;
}

function StateCounts({ totals, filters }) {
  const failed = (totals.FAILED || 0) + (totals.CRASHED || 0);
  const finished = failed + (totals.COMPLETED || 0) + (totals.CANCELLED || 0);
  return html`<ul class="counts" aria-label="Runs per state">
    <li class="count" aria-label=${`Failure rate ${finished ? Math.round((100 * failed) / finished) : 0}%`}>
      <span class="muted">Failure rate</span> <strong class="count-value">${finished ? Math.round((100 * failed) / finished) : 0}%</strong>
    </li>
    ${ORDER.filter((t) => totals[t] || ["COMPLETED", "FAILED", "RUNNING"].includes(t)).map(
      (type) => html`<li><a href=${`#/runs?${toParams({ ...filters, state: [type] })}`} class="count">
        <${StateBadge} type=${type} /> <strong class="count-value">${totals[type] || 0}</strong></a></li>`,
    )}
  </ul>`;
}

function Attention({ stats }) {
  const failures = stats.recent_failures || [];
  const late = stats.late || [];
  return html`<section class="attention">
    <h2>Needs attention</h2>
    ${failures.length === 0 && late.length === 0 && html`<p class="muted">Nothing failed or late in this range.</p>`}
    <ul class="attention-list" aria-label="Late and failed runs">
      ${late.map((run) => html`<li key=${run.id}><${StateBadge} state=${run.state} /> <a href=${`#/runs/${run.id}`}>${run.flow_name} / ${run.name}</a>
        <span class="muted">due ${relative(run.expected_start_time || run.next_scheduled_start_time)}</span></li>`)}
      ${failures.map(({ flow_run: run, message }) => html`<li key=${run.id}><${StateBadge} state=${run.state} />
        <a href=${`#/runs/${run.id}`}>${run.flow_name} / ${run.name}</a> <span class="muted">${when(run.end_time || run.created)}</span>
        <div class="failure-message">${message || run.state?.message}</div></li>`)}
    </ul>
  </section>`;
}

// The unfiltered dashboard's first counts (24 h in hours, RANGES' default), which the server puts
// in index.html where its API needs no key: the first render shows them, without asking.
const inlined = document.getElementById("mintaka-first");
let first = inlined && JSON.parse(inlined.textContent);
const firstStats = (query) => {
  const fresh = performance.now() < 10_000; // not if the page was opened elsewhere long before
  const data = fresh && !query.toString() && first?.path === "/flow_runs/stats" ? first.data : undefined;
  first = null; // once: a later visit asks afresh
  return data;
};

// The work-queue table comes with the work queues page's module, fetched after the first paint.
let queuePage = null;
const readQueueTable = async () => {
  const [page, queues] = await Promise.all([queuePage || import("./work_queues.js"), api("/work_queue_status")]);
  queuePage = page;
  return queues;
};

export function DashboardPage({ query }) {
  const filters = fromParams(query);
  const range = RANGES.find((r) => r[0] === (query.get("range") || "24h")) || RANGES[2];
  const stats = usePoll(() => {
    const until = new Date();
    const since = new Date(until.getTime() - range[1] * 1000);
    return api("/flow_runs/stats", {
      params: {
        since: since.toISOString(), until: until.toISOString(), bucket_seconds: range[2],
        flow_name: filters.flow, deployment_name: filters.deployment,
      },
    });
  }, [query.toString()], { initial: firstStats(query) });
  // The rest waits for the first counts and chart (the first paint), so the server answers them first.
  const painted = useRef(false);
  painted.current ||= stats.data !== undefined || stats.error !== null;
  const later = { enabled: painted.current };
  useEffect(() => {
    if (painted.current) window.dispatchEvent(new Event("mintaka:painted"));
  }, [painted.current]);
  const queues = usePoll(readQueueTable, [], later);
  // What runs next: the scheduled runs, soonest due first (the server reads its due index).
  const upcoming = usePoll(
    () => api("/flow_runs/upcoming", {
      params: { flow_name: filters.flow, deployment_name: filters.deployment, limit: 5 },
    }),
    [query.toString()],
    later,
  );
  const setRange = (value) => {
    const params = toParams(filters);
    params.set("range", value);
    navigate("/", params);
  };
  return html`<h1>Dashboard</h1>
    <${FilterBar} filters=${filters} path="/" only=${["flow", "deployment"]} />
    <div class="range" role="group" aria-label="Chart range">
      ${RANGES.map(([value]) => html`<button type="button" aria-pressed=${value === range[0]} onClick=${() => setRange(value)}>${value}</button>`)}
    </div>
    <${ErrorBox} error=${stats.error} />
    ${stats.data
      ? html`<${StateCounts} totals=${stats.data.totals} filters=${filters} />
        <${StackedChart} stats=${stats.data} />
        <${Attention} stats=${stats.data} />`
      : !stats.error && html`<${Loading} />`}
    <h2>Next runs</h2>
    ${upcoming.data ? html`<${RunTable} runs=${upcoming.data} label="Next runs" empty="Nothing scheduled." />` : html`<${ErrorBox} error=${upcoming.error} />`}
    <h2>Work queues</h2>
    ${queues.data ? html`<${queuePage.QueueTable} queues=${queues.data} compact=${true} />` : html`<${ErrorBox} error=${queues.error} />`}`;
}
