"""Cold-start budget of the API's Lambda function: import time, first invocation, package size.

    python benchmarks/lambda_cold_start.py [--runs 15] [--skip-package] [--platform manylinux2014_aarch64]

Prints a table:
- `import mintaka_server.handlers` in a fresh interpreter (median/max over N cold subprocesses;
  perf_counter around the import, after the interpreter itself started). Budget: 400 ms.
- The first invocation in a fresh process: building the app (FastAPI, store, Mangum) and serving
  `GET /api/health` from an API Gateway v2 event. Then a warm `GET /api/health`.
- The function package as `sam build` makes it (infra/lambda/build_package.py: the project
  --no-deps + infra/lambda/requirements.txt as Lambda-platform wheels, minus the runtime's
  boto3/botocore), zipped with deflate: MB unzipped / zipped. Budget: 25 MB zipped (Lambda's
  hard limit is 50 MB zipped, 250 MB unzipped). Set MINTAKA_LAMBDA_PYTHON to a Python 3.13 to
  include the bytecode the real build ships.
- Whether a package built for this machine serves requests on its own (no site-packages).

Timings are of this machine, with SQLite as the store (no network). On Lambda add the runtime's
own start (~100-200 ms for Python) and, with MINTAKA_STORE=dynamodb, the first TLS connection.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMPORT_BUDGET_MS = 400.0
ZIP_BUDGET_MB = 25.0

IMPORT = """
import time
t0 = time.perf_counter()
import mintaka_server.handlers
print((time.perf_counter() - t0) * 1000)
"""

# An API Gateway HTTP API v2 event and a Lambda context, as in the handler tests.
INVOKE = """
import json, sys, time, uuid
t0 = time.perf_counter()
from mintaka_server import handlers

class Context:
    function_name = "bench"; function_version = "$LATEST"; memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = str(uuid.uuid4())

def event(method, path, body=None, key=None):
    headers = {"host": "x.execute-api.us-east-1.amazonaws.com", "x-forwarded-proto": "https",
               "x-forwarded-port": "443", "content-type": "application/json"}
    if key:
        headers["authorization"] = "Bearer " + key
    return {"version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
            "headers": headers, "isBase64Encoded": False, "body": body,
            "requestContext": {"http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                                        "sourceIp": "203.0.113.7", "userAgent": "bench"},
                               "requestId": "bench=", "routeKey": "$default", "stage": "$default"}}

t1 = time.perf_counter()
first = handlers.api(event("GET", "/api/health"), Context())
t2 = time.perf_counter()
warm = []
for _ in range(50):
    s = time.perf_counter()
    handlers.api(event("GET", "/api/health"), Context())
    warm.append(time.perf_counter() - s)
check = sys.argv[1:] == ["--check"]
if check:  # writes and reads through the API key check, as a client would
    from mintaka.schemas import ApiKeyCreate
    key = handlers.get_container().app.state.service.api_keys.create(ApiKeyCreate(name="bench")).key
    made = handlers.api(event("POST", "/api/flow_runs", json.dumps({"flow_name": "bench"}), key), Context())
    assert made["statusCode"] == 201, made
    run = json.loads(made["body"])["id"]
    read = handlers.api(event("GET", "/api/flow_runs/" + run, None, key), Context())
    assert read["statusCode"] == 200, read
assert first["statusCode"] == 200, first
warm.sort()
print(json.dumps({"import_ms": (t1 - t0) * 1000, "first_ms": (t2 - t1) * 1000,
                  "warm_ms": warm[len(warm) // 2] * 1000}))
"""


def quiet_env(home: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINTAKA_", "AWS_LAMBDA", "POWERTOOLS_"))}
    env.update(MINTAKA_HOME=home, MINTAKA_STORE="sqlite", POWERTOOLS_LOG_LEVEL="WARNING", **extra)
    return env


def run_python(code: str, env: dict[str, str], *args: str, python_flags: tuple[str, ...] = ()) -> str:
    out = subprocess.run(
        [sys.executable, *python_flags, "-c", code, *args], capture_output=True, text=True, env=env, timeout=300
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return out.stdout.strip().splitlines()[-1]


def measure_import(runs: int) -> list[float]:
    with tempfile.TemporaryDirectory() as home:
        run_python(IMPORT, quiet_env(home))  # write bytecode caches first, as a built package has them
        return [float(run_python(IMPORT, quiet_env(home))) for _ in range(runs)]


def measure_first_invocation(runs: int) -> list[dict[str, float]]:
    import json

    results = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as home:
            results.append(json.loads(run_python(INVOKE, quiet_env(home))))
    return results


def load_builder():
    spec = importlib.util.spec_from_file_location("build_package", ROOT / "infra" / "lambda" / "build_package.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def zip_dir(source: Path, archive: Path) -> None:
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(source))


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def measure_package(platform: str) -> dict[str, float]:
    builder = load_builder()
    with tempfile.TemporaryDirectory() as tmp:
        # Sources only when no Python 3.13 is here to compile for the runtime (`sam build` refuses that).
        compile_bytecode = platform == "local" or builder.lambda_interpreter() is not None
        target = builder.build(Path(tmp) / "package", platform=platform, compile_bytecode=compile_bytecode)
        archive = Path(tmp) / "package.zip"
        zip_dir(target, archive)
        pyc = sum(1 for _ in target.rglob("*.pyc"))
        return {"unzipped_mb": dir_size(target) / 1e6, "zipped_mb": archive.stat().st_size / 1e6, "pyc": pyc}


def check_package_alone() -> tuple[bool, float]:
    """Build for this machine and serve from the package only: `python -S` (no site-packages)."""
    import json

    builder = load_builder()
    with tempfile.TemporaryDirectory() as tmp:
        target = builder.build(Path(tmp) / "package", platform="local")
        code = f"import sys; sys.path.insert(0, {str(target)!r})\n" + INVOKE
        with tempfile.TemporaryDirectory() as home:
            env = quiet_env(home)
            env.pop("PYTHONPATH", None)
            try:
                result = json.loads(run_python(code, env, "--check", python_flags=("-S", "-E")))
            except RuntimeError as exc:
                print(f"package check failed:\n{exc}", file=sys.stderr)
                return False, float("nan")
        return True, result["import_ms"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="Cold subprocesses per measurement")
    parser.add_argument("--skip-package", action="store_true", help="Do not build the package (no pip, no network)")
    parser.add_argument("--platform", default="manylinux2014_aarch64", help="Wheel platform of the sized package")
    args = parser.parse_args()

    imports = measure_import(args.runs)
    invocations = measure_first_invocation(max(3, args.runs // 3))
    rows = [
        (
            "import mintaka_server.handlers (median)",
            f"{statistics.median(imports):.0f} ms",
            f"≤ {IMPORT_BUDGET_MS:.0f} ms",
        ),
        ("import mintaka_server.handlers (max)", f"{max(imports):.0f} ms", ""),
        (
            "first invocation: build app + GET /api/health",
            f"{statistics.median(r['first_ms'] for r in invocations):.0f} ms",
            "",
        ),
        ("warm invocation: GET /api/health", f"{statistics.median(r['warm_ms'] for r in invocations):.2f} ms", ""),
    ]
    verdicts = [statistics.median(imports) <= IMPORT_BUDGET_MS]
    if not args.skip_package:
        size = measure_package(args.platform)
        rows += [
            (f"package ({args.platform}), unzipped", f"{size['unzipped_mb']:.1f} MB", "≤ 250 MB"),
            (f"package ({args.platform}), zipped", f"{size['zipped_mb']:.1f} MB", f"≤ {ZIP_BUDGET_MB:.0f} MB"),
            ("  .pyc files shipped", f"{size['pyc']}", "> 0 with a matching Python"),
        ]
        verdicts.append(size["zipped_mb"] <= ZIP_BUDGET_MB)
        alone, import_ms = check_package_alone()
        rows += [
            ("package alone (python -S): keys, write, read", "ok" if alone else "FAILED", "ok"),
            ("  import from the package (python -S)", f"{import_ms:.0f} ms", ""),
        ]
        verdicts.append(alone)

    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>10}  budget")
    print(f"{'-' * width}  {'-' * 10}  {'-' * 16}")
    for name, value, budget in rows:
        print(f"{name:<{width}}  {value:>10}  {budget}")
    print(f"\nPython {sys.version.split()[0]} on {sys.platform}; {args.runs} cold imports.")
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
