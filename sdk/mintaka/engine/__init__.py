"""The run engine: the step machine that runs flows and tasks, and what executes deployed runs."""
