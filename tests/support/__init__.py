"""Helpers shared by test modules (importable: `tests/` is on pytest's pythonpath)."""
