// Filters for run lists: the URL's params, the typed query (`state:failed flow:etl tag:nightly
// since:7d`) and the API's params are three spellings of one object.

export const STATE_TYPES = ["SCHEDULED", "PENDING", "RUNNING", "PAUSED", "COMPLETED", "FAILED", "CANCELLING", "CANCELLED", "CRASHED"];
const KEYS = ["state", "flow", "deployment", "tag", "since", "until", "name"];
const UNITS = { m: 60, h: 3600, d: 86400, w: 7 * 86400 };

/** The filters an URL's params hold. */
export function fromParams(params) {
  return {
    flow: params.get("flow") || "",
    deployment: params.get("deployment") || "",
    state: params.getAll("state").filter(Boolean),
    tag: params.getAll("tag").filter(Boolean),
    since: params.get("since") || "",
    until: params.get("until") || "",
    name: params.get("name") || "",
  };
}

/** The URL params for `filters` (only what is set). */
export function toParams(filters) {
  const params = new URLSearchParams();
  for (const key of KEYS) {
    for (const value of [].concat(filters[key] || [])) if (value) params.append(key, value);
  }
  return params;
}

const quote = (value) => (/[\s"]/.test(value) ? `"${value.replace(/"/g, "")}"` : value);

/** The typed query for `filters`. */
export function toText(filters) {
  const words = [];
  for (const key of KEYS) {
    for (const value of [].concat(filters[key] || [])) {
      if (value) words.push(key === "name" ? quote(value) : `${key}:${quote(key === "state" ? value.toLowerCase() : value)}`);
    }
  }
  return words.join(" ");
}

/** Parses a typed query; throws Error with a message naming what it did not understand. */
export function parseText(text) {
  const filters = { flow: "", deployment: "", state: [], tag: [], since: "", until: "", name: "" };
  const names = [];
  for (const match of text.matchAll(/(\w+:)?("[^"]*"|\S+)/g)) {
    const key = match[1] ? match[1].slice(0, -1).toLowerCase() : null;
    const value = match[2].replace(/^"|"$/g, "");
    if (key === null) {
      names.push(value);
    } else if (key === "state") {
      for (const one of value.split(",")) {
        const type = one.toUpperCase();
        if (!STATE_TYPES.includes(type)) throw new Error(`Unknown state "${one}": one of ${STATE_TYPES.join(", ").toLowerCase()}`);
        filters.state.push(type);
      }
    } else if (key === "tag") {
      filters.tag.push(value);
    } else if (key === "since" || key === "until") {
      if (!toTime(value)) throw new Error(`${key}: "${value}" is neither a duration (30m, 12h, 7d, 2w) nor a date`);
      filters[key] = value;
    } else if (["flow", "deployment", "name"].includes(key)) {
      filters[key] = value;
    } else {
      throw new Error(`Unknown filter "${key}:": use ${KEYS.map((k) => `${k}:`).join(" ")}`);
    }
  }
  if (names.length) filters.name = [filters.name, ...names].filter(Boolean).join(" ");
  return filters;
}

/** A duration ago (`7d`) or a date, as ISO; null when it is neither. */
export function toTime(value, now = Date.now()) {
  if (!value) return null;
  const relative = /^(\d+(?:\.\d+)?)([mhdw])$/i.exec(value);
  if (relative) return new Date(now - Number(relative[1]) * UNITS[relative[2].toLowerCase()] * 1000).toISOString();
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/** The `GET /api/flow_runs` params for `filters`. */
export function toApiParams(filters) {
  return {
    flow_contains: filters.flow || "",
    deployment_name: filters.deployment || "",
    state_type: filters.state || [],
    tag: filters.tag || [],
    since: toTime(filters.since) || "",
    until: toTime(filters.until) || "",
    name_contains: filters.name || "",
  };
}

export const isEmpty = (filters) => KEYS.every((key) => [].concat(filters[key] || []).filter(Boolean).length === 0);
