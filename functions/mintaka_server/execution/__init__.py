"""Launchers: run a flow run in this process (the Lambda worker) or in an ECS Fargate task.

Both import what they need lazily (`from mintaka_server.execution.fargate import …`)."""
