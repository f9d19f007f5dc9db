"""The `mintaka` command line (typer + rich).

Heavy imports (the client, the server, uvicorn) happen inside commands, so `mintaka --help`
stays fast. Errors are caught at one edge, `main()`: a one-line message and exit code 1.
"""

from ._app import app, main

__all__ = ["app", "main"]
