// The JSON API, as the dashboard calls it: the key from localStorage, errors as ApiError.

const API = new URL("../api", window.location.href).pathname.replace(/\/$/, "");
const KEY = "mintaka.apiKey";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const keyListeners = new Set();
/** Calls `listener()` when the API answers 401 (the page asks for a key). */
export const onKeyNeeded = (listener) => (keyListeners.add(listener), () => keyListeners.delete(listener));
export const saveKey = (key) => (key ? localStorage.setItem(KEY, key) : localStorage.removeItem(KEY));
export const hasKey = () => Boolean(localStorage.getItem(KEY));

function detail(body, fallback) {
  if (!body || body.detail == null) return fallback;
  if (typeof body.detail === "string") return body.detail;
  if (Array.isArray(body.detail)) {
    return body.detail.map((d) => `${(d.loc || []).filter((p) => p !== "body").join(".")}: ${d.msg}`).join("; ");
  }
  return JSON.stringify(body.detail);
}

/** `api(path, {params, method, body})`: params may hold arrays (repeated) and skip empty values. */
export async function api(path, { params, method, body } = {}) {
  const url = new URL(API + path, window.location.origin);
  for (const [name, value] of Object.entries(params || {})) {
    for (const one of Array.isArray(value) ? value : [value]) {
      if (one !== "" && one != null) url.searchParams.append(name, one);
    }
  }
  const headers = { Accept: "application/json" };
  const key = localStorage.getItem(KEY);
  if (key) headers.Authorization = `Bearer ${key}`;
  const init = { method: method || (body === undefined ? "GET" : "POST"), headers };
  // Every write says JSON, bodiless ones too: the API's browser guard refuses other writes.
  if (init.method !== "GET") headers["Content-Type"] = "application/json";
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(url, init);
  if (response.status === 401) keyListeners.forEach((listener) => listener());
  if (response.status === 204) return null;
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!response.ok) throw new ApiError(response.status, detail(parsed, `${response.status} ${response.statusText}`));
  return parsed;
}
