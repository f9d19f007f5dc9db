"""The profile: `MINTAKA_*` settings kept in `$MINTAKA_HOME/config.json` (`mintaka config set`).

A flat JSON object of setting names to strings, e.g. `{"api_url": "https://…/api", "api_key":
"mk_…"}`. Settings read it below the environment: a `MINTAKA_*` variable always wins (set one to
an empty string to ignore a profile value). The file may hold an API key, so it is written
owner-only (0600), atomically.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from mintaka.exceptions import InvalidRequest
from mintaka.settings import SERVER_FIELDS, Settings

PROFILE_NAME = "config.json"
DEFAULT_HOME = "~/.mintaka"
# Where the profile lives cannot itself come from the profile; a server's settings come from its
# deployment's environment.
NOT_IN_PROFILE = frozenset({"home"}) | SERVER_FIELDS
SECRET_KEYS = frozenset({"api_key"})


def profile_path(home: str | Path | None = None) -> Path:
    home = home or os.environ.get("MINTAKA_HOME") or DEFAULT_HOME
    return Path(home).expanduser() / PROFILE_NAME


def read_profile(path: Path | None = None) -> dict[str, str]:
    path = path or profile_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise InvalidRequest(f"Cannot read the Mintaka profile {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidRequest(f"The Mintaka profile {path} must hold a JSON object")
    return {str(k): str(v) for k, v in data.items() if v is not None}


def write_profile(values: dict[str, str], path: Path | None = None) -> Path:
    path = path or profile_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps(dict(sorted(values.items())), indent=2) + "\n")
    os.replace(tmp, path)
    return path


def setting_name(key: str) -> str:
    """`api_key`, `api-key`, `MINTAKA_API_KEY` → `api_key`, if it names a profile setting."""

    name = key.strip().lower().replace("-", "_").removeprefix("mintaka_")
    allowed = sorted(set(Settings.model_fields) - NOT_IN_PROFILE)
    if name not in allowed:
        raise InvalidRequest(f"Unknown setting {key!r}; one of: {', '.join(allowed)}")
    return name


def masked(name: str, value: str | None) -> str | None:
    """A secret shown by its start only: `mk_1a2b3c4d5e6f_…`."""
    if value is None or name not in SECRET_KEYS:
        return value
    return value[: value.find("_", 3) + 1] + "…" if value.startswith("mk_") else "…"
