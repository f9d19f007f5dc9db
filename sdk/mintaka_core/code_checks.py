"""Checks on where a deployment's code comes from, shared by the API (which refuses a bad
deployment with a 4xx) and the executor (which re-checks before it runs anything).

A git URL or branch is handed to `git` on the executor: a value git reads as an option
(`--upload-pack=…`, `-c core.sshCommand=…`) or a transport that runs commands (`ext::sh -c …`)
would run a command there. An entrypoint is imported: one outside the fetched code would run a
file the deployment does not own. Each check returns a message saying what to fix, or None.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from mintaka_core.exceptions import InvalidRequest

# The transports git may use for a deployment's code (also handed to git as GIT_ALLOW_PROTOCOL).
GIT_SCHEMES = ("https", "ssh", "git", "file")
# `user@host:path`, git's scp-like ssh syntax; the user and host may not look like options.
_SCP_LIKE = re.compile(r"^(?:[A-Za-z0-9._~][A-Za-z0-9._~-]*@)?[A-Za-z0-9_][A-Za-z0-9._-]*:(?!//)(?P<path>.+)$")
_HOST = re.compile(r"^(?:[A-Za-z0-9._~%][^@/\s]*@)?(?:[A-Za-z0-9_][A-Za-z0-9._-]*|\[[0-9A-Fa-f:.]+\])(?::\d+)?$")
# Characters git refuses in a ref name (git check-ref-format), plus DEL and the control characters.
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")
_URL_EXAMPLE = "e.g. https://github.com/org/repo.git, git@github.com:org/repo.git or file:///srv/repo"


def _control_char(value: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in value)


def redact(url: str) -> str:
    """`url` with the password of its credentials (`user:token@`) hidden, for messages."""
    return re.sub(r"(://[^/@:]*):[^@/]*@", r"\1:***@", url)


def git_url_problem(url: str) -> str | None:
    """Why `url` may not be fetched with git, or None if it may."""
    shown = redact(url)
    if not url or url != url.strip():
        return f"git URL {shown!r} is empty or has surrounding spaces"
    if _control_char(url):
        return f"git URL {shown!r} contains a control character"
    if url.startswith("-"):
        return f"git URL {shown!r} starts with '-' (git would read it as an option); use a URL, {_URL_EXAMPLE}"
    if "://" in url:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in GIT_SCHEMES:
            return f"git URL {shown!r}: scheme {scheme!r} is not allowed (use {', '.join(GIT_SCHEMES)}; {_URL_EXAMPLE})"
        if scheme == "file":
            if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
                return f"git URL {shown!r}: a file URL reads file:///absolute/path/to/repo"
        elif not _HOST.match(parts.netloc) or not parts.path.strip("/"):
            return f"git URL {shown!r}: expected {scheme}://[user@]host[:port]/path/to/repo"
        return None
    if "::" in url:  # git's `transport::address` syntax (ext::, fd::, remote helpers)
        return f"git URL {shown!r}: transport '::' syntax is not allowed; use a URL, {_URL_EXAMPLE}"
    if _SCP_LIKE.match(url):
        return None
    return f"git URL {shown!r} is not a git URL git may fetch here; {_URL_EXAMPLE}"


def branch_problem(branch: str) -> str | None:
    """Why `branch` is not a valid git branch name (git check-ref-format's rules), or None."""
    if not branch:
        return "git branch is empty"
    if branch.startswith("-"):
        return f"git branch {branch!r} starts with '-' (git would read it as an option)"
    if _REF_FORBIDDEN.search(branch):
        return f"git branch {branch!r} contains a space, a control character or one of ~ ^ : ? * [ \\"
    if ".." in branch or "@{" in branch or branch == "@" or "//" in branch:
        return f"git branch {branch!r} contains '..', '@{{' or '//' (or is '@')"
    if branch.startswith("/") or branch.endswith(("/", ".")):
        return f"git branch {branch!r} starts with '/' or ends with '/' or '.'"
    for part in branch.split("/"):
        if part.startswith(".") or part.endswith(".lock"):
            return f"git branch {branch!r}: no part may start with '.' or end with '.lock'"
    return None


def entrypoint_path_problem(path: str) -> str | None:
    """Why the file part of an entrypoint (`path/to/file.py` of `path/to/file.py:flow`) may
    not name a file inside the deployment's code, or None. (Symlinks are checked where the
    code is: see `entrypoint_file`.)"""
    if _control_char(path):
        return f"entrypoint path {path!r} contains a control character"
    if "\\" in path:
        return f"entrypoint path {path!r}: use '/' between directories"
    posix = PurePosixPath(path)
    if posix.is_absolute() or re.match(r"^[A-Za-z]:", path):
        return f"entrypoint path {path!r} is absolute; give it relative to the code's root, e.g. flows/etl.py:etl"
    if ".." in posix.parts:
        return f"entrypoint path {path!r} contains '..'; it must name a file inside the deployment's code"
    return None


def entrypoint_file(root: Path, path: str) -> Path:
    """The entrypoint's file under `root`, resolved (symlinks followed); ValueError if it is
    not inside `root`."""
    problem = entrypoint_path_problem(path)
    if problem:
        raise ValueError(problem)
    base = root.resolve()
    file = (base / path).resolve()
    if not file.is_relative_to(base):
        raise ValueError(f"entrypoint path {path!r} resolves outside the deployment's code (to {file})")
    return file


def check_code_location(deployment: Any) -> None:
    """Refuse (InvalidRequest, a 422 at the API) a deployment whose git URL, branch or
    entrypoint the executor would refuse: nothing is stored."""
    storage = deployment.storage
    problems = []
    if storage.type == "git":
        problems += [git_url_problem(storage.url), branch_problem(storage.branch or "main")]
    problems.append(entrypoint_path_problem(deployment.entrypoint.rpartition(":")[0]))
    found = [p for p in problems if p]
    if found:
        raise InvalidRequest("Invalid deployment: " + "; ".join(found))
