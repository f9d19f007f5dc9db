"""Mintaka's orchestration server: API, rules engine, stores. Runs embedded, on uvicorn, or on Lambda."""
