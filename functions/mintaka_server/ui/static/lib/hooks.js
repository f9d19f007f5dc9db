// Hooks every page shares: live data by polling (paused while the tab is hidden) and the route.

import { useCallback, useEffect, useRef, useState } from "preact/hooks";

export const POLL_MS = Number(localStorage.getItem("mintaka.pollMs")) || 2500;

/**
 * `usePoll(load, deps)` runs `load()` now, then every POLL_MS while the tab is visible, and again
 * whenever `deps` change. Returns {data, error, loading, reload}; `data` keeps the last good answer.
 * With `initial` (an answer already in hand) the first render shows it and the first load waits
 * for the interval.
 */
export function usePoll(load, deps, { interval = POLL_MS, enabled = true, initial } = {}) {
  const [state, setState] = useState(() =>
    initial === undefined ? { data: undefined, error: null, loading: true } : { data: initial, error: null, loading: false });
  const primed = useRef(initial !== undefined);
  const generation = useRef(0);
  const run = useCallback(async () => {
    const mine = generation.current;
    try {
      const data = await load();
      if (mine === generation.current) setState({ data, error: null, loading: false });
    } catch (error) {
      if (mine === generation.current) setState((old) => ({ data: old.data, error, loading: false }));
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  useEffect(() => {
    generation.current += 1;
    const primedNow = primed.current;
    primed.current = false;
    if (!primedNow) setState({ data: undefined, error: null, loading: true });
    if (!enabled) return undefined;
    if (!primedNow) run();
    if (!interval) return undefined;
    const timer = setInterval(() => {
      if (!document.hidden) run();
    }, interval);
    const onVisible = () => !document.hidden && run();
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      clearInterval(timer);
      document.removeEventListener("visibilitychange", onVisible);
    };
  }, [run, interval, enabled]);
  return { ...state, reload: run };
}

/** The hash route: {path, query: URLSearchParams}; `navigate(path, params)` writes it. */
export function useRoute() {
  const read = () => {
    const [path, search] = (window.location.hash.slice(1) || "/").split("?");
    return { path: path || "/", query: new URLSearchParams(search || "") };
  };
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const onChange = () => setRoute(read());
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  return route;
}

export function navigate(path, params) {
  const search = params ? new URLSearchParams(params).toString() : "";
  window.location.hash = `#${path}${search ? `?${search}` : ""}`;
}
