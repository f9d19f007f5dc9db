"""Utilities shared by user code and the engine (Prefect 2's `prefect.utilities` names)."""
