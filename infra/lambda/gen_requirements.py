"""Write infra/lambda/requirements.txt from pyproject.toml, so the Lambda package's dependencies
are the project's own, with the project's version bounds, never a hand-kept copy.

    python infra/lambda/gen_requirements.py          # rewrite requirements.txt
    python infra/lambda/gen_requirements.py --check  # exit 1 if it does not match pyproject.toml

The requirements are the project's dependencies plus the extras named in
`[tool.mintaka.lambda-package]`, less its `leave-out` names. Needs Python 3.11+ (tomllib); the
build itself (build_package.py) reads the generated file and runs on any Python 3.8+.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"
REQUIREMENTS = Path(__file__).resolve().parent / "requirements.txt"
HEADER = """\
# Generated from pyproject.toml by infra/lambda/gen_requirements.py: do not edit; change
# pyproject.toml (dependencies, extras, [tool.mintaka.lambda-package]) and run it again.
# What the Lambda functions import at run time besides the `mintaka` project itself, which
# build_package.py installs with --no-deps; it removes boto3, botocore and s3transfer, which the
# Lambda Python runtime provides, should anything here pull them in.
"""


def name_of(requirement: str) -> str:
    """The normalized distribution name of a requirement line (PEP 503: `Foo_Bar` is `foo-bar`)."""
    return re.sub(r"[-_.]+", "-", re.split(r"[\s\[<>=!~;@]", requirement.strip(), maxsplit=1)[0]).lower()


def lambda_requirements(pyproject: dict) -> list[str]:
    """The requirement lines, in pyproject.toml's order, each distribution once."""
    project = pyproject["project"]
    config = pyproject["tool"]["mintaka"]["lambda-package"]
    extras = project.get("optional-dependencies", {})
    unknown = [extra for extra in config["extras"] if extra not in extras]
    if unknown:
        raise ValueError(f"[tool.mintaka.lambda-package] extras not in the project: {unknown}")
    candidates = [*project["dependencies"], *(r for extra in config["extras"] for r in extras[extra])]
    leave_out = {name_of(name) for name in config["leave-out"]}
    stale = sorted(leave_out - {name_of(r) for r in candidates})
    if stale:
        raise ValueError(f"[tool.mintaka.lambda-package] leave-out names no dependency: {stale}")
    chosen: dict[str, str] = {}
    for requirement in candidates:
        chosen.setdefault(name_of(requirement), requirement)
    return [requirement for name, requirement in chosen.items() if name not in leave_out]


def render(pyproject_path: Path = PYPROJECT) -> str:
    """requirements.txt's text for this pyproject.toml."""
    pyproject = tomllib.loads(pyproject_path.read_text())
    return HEADER + "".join(f"{line}\n" for line in lambda_requirements(pyproject))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if requirements.txt is not up to date")
    args = parser.parse_args(argv)
    text = render()
    current = REQUIREMENTS.read_text() if REQUIREMENTS.exists() else ""
    if args.check:
        if current != text:
            print(f"{REQUIREMENTS} is stale: run python infra/lambda/gen_requirements.py", file=sys.stderr)
            return 1
        return 0
    if current != text:
        REQUIREMENTS.write_text(text)
        print(f"wrote {REQUIREMENTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
