"""Playwright for Python driving Debian's Chromium (Playwright's own browser download does not
work here): a browser per test module, a fresh page per test, and screenshots for CI artifacts."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = next(
    (
        p
        for p in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"))
        if p and Path(p).exists()
    ),
    None,
)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# Real runs for the dashboard: an ETL run (a retried task, ten mapped ones, a subflow `load`) and a
# failed run whose traceback names the cause.
SEED = f"""
import sys
sys.path.insert(0, {str(EXAMPLES)!r})
import etl, deployable
etl.etl(10)
deployable.broken("the source is down", return_state=True)
"""
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Each new context (a window) would start the omnibox popup's own WebUI renderer: ~250 ms of
    # CPU per window, which a user's long-open browser has spent once; on 2 busy cores it delays
    # the page under test.
    "--disable-features=WebUIOmniboxPopup",
]


def require_browser() -> None:
    """Skip the calling module without Playwright or Chromium; in CI their absence is an error."""
    missing = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = "Playwright for Python is not installed (pip install -e '.[dev]')"
    if missing is None and CHROMIUM is None:
        missing = "Chromium is not installed (apt-get install chromium)"
    if missing:
        if os.environ.get("CI"):
            raise RuntimeError(f"CI must run the browser tests: {missing}")
        pytest.skip(missing, allow_module_level=True)


_shared: dict = {"users": 0}


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module that imports this fixture, stopped when the module
    ends: Playwright's sync API keeps an event loop running in this thread while it is started,
    and every later test calling `asyncio.run()` would fail ("cannot be called from a running
    event loop"). Modules share one Playwright, which allows one per thread."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=15_000)  # as the pages' own: CI runs these beside the whole suite
    if _shared["users"] == 0:
        _shared["playwright"] = sync_playwright().start()
        _shared["browser"] = _shared["playwright"].chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
    _shared["users"] += 1
    yield _shared["browser"]
    _shared["users"] -= 1
    if _shared["users"] == 0:
        _shared.pop("browser").close()
        _shared.pop("playwright").stop()


@pytest.fixture
def page(browser):
    """A fresh context (own localStorage) and page; console errors fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    # The dashboard polls every 2.5 s; tests watch it every second (its own setting, in localStorage).
    context.add_init_script("localStorage.setItem('mintaka.pollMs', '1000')")
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, f"the page raised: {errors}"


@pytest.fixture(scope="session")
def screenshot_dir() -> Iterator[Path]:
    """Where `screenshot(page, name)` writes: `MINTAKA_UI_SCREENSHOTS`, else a temporary directory."""
    configured = os.environ.get("MINTAKA_UI_SCREENSHOTS")
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        yield path
    else:
        with tempfile.TemporaryDirectory(prefix="mintaka-ui-") as temporary:
            yield Path(temporary)


def screenshot(page, directory: Path, name: str) -> Path:
    """A full-page PNG named after `name`."""
    path = directory / f"{re.sub(r'[^a-z0-9_-]+', '-', name.lower())}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def run_flow_script(home: Path, code: str, api_url: str | None = None, wait: bool = True, timeout: float = 90):
    """Runs `code` (a script that imports mintaka and runs flows) in a fresh Python on `home`'s
    store (or against `api_url`); returns the finished process, or the running one with `wait=False`."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("MINTAKA_")}
    env["MINTAKA_HOME"] = str(home)
    if api_url:
        env["MINTAKA_API_URL"] = api_url
    command = [sys.executable, "-c", code]
    if not wait:
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done
