// A run's logs: level, search and task filters, paging through every line (oldest or newest
// first), and a live tail that fetches only what is new while the run is live.

import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "./api.js";
import { POLL_MS, usePoll } from "./hooks.js";
import { clock, html } from "./ui.js";

const LEVELS = [[0, "All levels"], [10, "DEBUG"], [20, "INFO"], [30, "WARNING"], [40, "ERROR"], [50, "CRITICAL"]];
const levelName = (level) => ({ 10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL" })[level] || String(level);
const PAGE = 200;
const TAIL_KEEP = 5000;

function LogLine({ line, taskNames }) {
  const task = line.task_run_id ? taskNames[line.task_run_id] || "task" : "";
  return html`<li class=${`log log-${levelName(line.level)}`}>
    <span class="log-time">${clock(line.timestamp)}</span>
    <span class="log-level">${levelName(line.level)}</span>
    <span class="log-task">${task && html`<a href=${`#/task-runs/${line.task_run_id}`}>${task}</a>`}</span>
    <pre class="log-message">${line.message}</pre>
  </li>`;
}

/**
 * `path`: the logs endpoint (`/flow_runs/ID/logs` or `/task_runs/ID/logs`); `live`: the run is
 * still going (the tail is on by default); `taskNames`: {task_run_id: name} for the task column
 * and filter (a flow run's page).
 */
export function LogView({ path, live, taskNames = {} }) {
  const [level, setLevel] = useState(0);
  const [task, setTask] = useState("");
  const [newestFirst, setNewestFirst] = useState(false);
  const [page, setPage] = useState(0);
  const [typed, setTyped] = useState("");
  const [search, setSearch] = useState(""); // what was typed, once typing pauses
  useEffect(() => {
    if (typed === search) return undefined;
    const timer = setTimeout(() => (setSearch(typed), setPage(0)), 250);
    return () => clearTimeout(timer);
  }, [typed]);
  const [tail, setTail] = useState(live);
  useEffect(() => setTail(live), [live]);

  const fetchLines = (params) => api(path, { params: { min_level: level || "", contains: search, task_run_id: task, ...params } });
  const key = [path, level, search, task, newestFirst, page, tail].join("|");

  const paged = usePoll(() => fetchLines({ limit: PAGE, offset: page * PAGE, newest_first: newestFirst }), [key], {
    enabled: !tail,
  });

  // The tail: the last lines, then each poll asks only for the lines after the newest it has
  // (`after` + `after_id`); lines are kept by id, so a server that ignores `after` repeats none.
  const [tailLines, setTailLines] = useState([]);
  const list = useRef(null);
  useEffect(() => {
    if (!tail) return undefined;
    let stopped = false;
    let last = null;
    const seen = new Set();
    setTailLines([]);
    const step = async () => {
      if (document.hidden) return;
      const params = last ? { limit: 1000, after: last.timestamp, after_id: last.id || "" } : { limit: 1000, newest_first: true };
      const answer = await fetchLines(params).catch(() => null);
      if (stopped || !answer) return;
      const lines = (last ? answer : answer.reverse()).filter((line) => !line.id || !seen.has(line.id));
      if (!lines.length) return;
      lines.forEach((line) => line.id && seen.add(line.id));
      last = lines[lines.length - 1];
      setTailLines((old) => [...old, ...lines].slice(-TAIL_KEEP));
      if (answer.length === 1000 && params.after) step();
    };
    step();
    const timer = setInterval(step, POLL_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [key]);
  useEffect(() => {
    if (tail && list.current) list.current.scrollTop = list.current.scrollHeight;
  }, [tailLines.length]);

  const lines = tail ? tailLines : paged.data || [];
  const tasks = Object.entries(taskNames);
  const set = (setter) => (event) => {
    setter(event.target.value);
    setPage(0);
  };
  return html`<section class="logs" aria-label="Logs">
    <div class="log-controls">
      <label>Level <select value=${level} onChange=${(e) => (setLevel(Number(e.target.value)), setPage(0))}>
        ${LEVELS.map(([value, text]) => html`<option value=${value}>${text}</option>`)}
      </select></label>
      <label>Search logs <input type="search" value=${typed} onInput=${(e) => setTyped(e.target.value)} /></label>
      ${tasks.length > 0 &&
      html`<label>Task <select value=${task} onChange=${set(setTask)}>
        <option value="">All tasks and the flow</option>
        ${tasks.map(([id, name]) => html`<option value=${id}>${name}</option>`)}
      </select></label>`}
      <label><input type="checkbox" checked=${tail} onChange=${(e) => setTail(e.target.checked)} /> Live tail</label>
      ${!tail &&
      html`<label>Order <select value=${newestFirst ? "newest" : "oldest"} onChange=${(e) => (setNewestFirst(e.target.value === "newest"), setPage(0))}>
          <option value="oldest">Oldest first</option><option value="newest">Newest first</option>
        </select></label>
        <span class="pager">
          <button type="button" disabled=${page === 0} onClick=${() => setPage(page - 1)}>Previous lines</button>
          <span class="muted">lines ${page * PAGE + 1} to ${page * PAGE + (paged.data?.length || 0)}</span>
          <button type="button" disabled=${(paged.data?.length || 0) < PAGE} onClick=${() => setPage(page + 1)}>Next lines</button>
        </span>`}
      <span class="muted" role="status" aria-label="Log line count">${lines.length} line${lines.length === 1 ? "" : "s"}</span>
    </div>
    <ol class="log-lines" ref=${list} aria-label="Log lines" tabindex="0">
      ${lines.length ? lines.map((line, i) => html`<${LogLine} key=${line.id || `at-${i}`} line=${line} taskNames=${taskNames} />`) : html`<li class="muted">No log lines</li>`}
    </ol>
  </section>`;
}
