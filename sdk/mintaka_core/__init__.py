"""Mintaka's core: the vocabulary the SDK (`mintaka`) and the server (`mintaka_server`) share.

Run states, wire schemas, errors, bounds, schedules, the API's operation table, the client
protocol and shared words (label keys, defaults). It needs pydantic (and jsonschema, croniter,
dateutil for what it validates) and nothing of either side: neither package, no HTTP client, no
AWS SDK, no web framework (import-linter contracts in pyproject.toml). `mintaka.states`,
`mintaka.schemas`, ... re-export these modules, so users' imports keep working.
"""
