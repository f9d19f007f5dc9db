"""Prefect 2's client schema modules: `filters`, `sorting`, `objects` (for `read_flow_runs`)."""
