// Flow runs: the filter bar and a paged list, live.

import { useEffect, useState } from "preact/hooks";
import { api } from "../lib/api.js";
import { FilterBar } from "../lib/filters.js";
import { usePoll } from "../lib/hooks.js";
import { fromParams, isEmpty, toApiParams } from "../lib/query.js";
import { ErrorBox, Loading, RunTable, html } from "../lib/ui.js";

const PAGE = 50;

export function RunsPage({ query }) {
  const filters = fromParams(query);
  const key = query.toString();
  const first = usePoll(() => api("/flow_runs", { params: { ...toApiParams(filters), limit: PAGE } }), [key]);
  const [older, setOlder] = useState({ runs: [], cursor: undefined });
  useEffect(() => setOlder({ runs: [], cursor: undefined }), [key]);
  const cursor = older.cursor === undefined ? first.data?.next_cursor : older.cursor;
  const more = async () => {
    const page = await api("/flow_runs", { params: { ...toApiParams(filters), limit: PAGE, cursor } });
    setOlder((old) => ({ runs: [...old.runs, ...page.items], cursor: page.next_cursor || null }));
  };
  const seen = new Set();
  const runs = [...(first.data?.items || []), ...older.runs].filter((r) => !seen.has(r.id) && seen.add(r.id));
  return html`<h1>Flow runs</h1>
    <${FilterBar} filters=${filters} path="/runs" />
    <${ErrorBox} error=${first.error} />
    ${first.loading
      ? html`<${Loading} />`
      : html`<${RunTable} runs=${runs}
            empty=${isEmpty(filters) ? "No runs yet: run a flow and it shows up here." : "No runs match these filters."} />
          <p class="pager">
            ${cursor && html`<button type="button" onClick=${more}>Load more</button>`}
            <span class="muted" role="status">${runs.length} run${runs.length === 1 ? "" : "s"} shown</span>
          </p>`}`;
}
