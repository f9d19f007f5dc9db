"""The orchestration API: a FastAPI app factory over the service layer.

Imported only by the server (CLI `mintaka server start`, Lambda, tests); the SDK's embedded
mode calls the service directly and never imports FastAPI.
"""

from .app import create_app

__all__ = ["create_app"]
