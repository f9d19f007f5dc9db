"""The dashboard: static files served by the API app at `/ui` (the data comes from `/api`)."""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"


def mount_ui(app) -> None:
    """Serve the dashboard at `/ui/` and send `/` there."""
    from fastapi.responses import RedirectResponse
    from fastapi.staticfiles import StaticFiles

    class Revalidated(StaticFiles):
        # Browsers may otherwise reuse a file they cached by heuristic, and after an upgrade run old
        # modules against the new API; `no-cache` makes them ask first (an unchanged file is a 304).
        def file_response(self, *args, **kwargs):
            response = super().file_response(*args, **kwargs)
            response.headers["Cache-Control"] = "no-cache"
            return response

    app.mount("/ui", Revalidated(directory=STATIC_DIR, html=True), name="ui")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/")
