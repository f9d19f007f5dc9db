"""Prefect 2.20 compatibility: Prefect 2 code, imports changed to mintaka, behaves as Prefect 2.20
documents. Every test taking `client` runs on each SDK transport (embedded SQLite, and HTTP to a
server on DynamoDB)."""

from support.sdk_transports import client, history, pytest_generate_tests  # noqa: F401
