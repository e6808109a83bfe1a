"""A checkout of the platform as the benchmark provisions and serves it: this one, or a baseline.

`BENCH_BASELINE` names a second checkout (for example `git worktree add /tmp/bench-base
<commit>`) to measure in the same run. Each checkout gets its own fresh temporary
GATEHOUSE_VAR_DIR (a new SQLite database), is provisioned by its own `bench/provision.py`, and is
served by uvicorn through `serve.py` with its tree as working directory, `--app-dir` and
PYTHONPATH. Both share this checkout's virtualenv, where this checkout is installed in editable
mode, so before a checkout is measured `check_imports` reads which files its served process
imported and refuses the run if any came from the other checkout.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from processes import ServerFailed

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
APP = "config.asgi:application"
UVICORN = ["--http", "httptools", "--loop", "uvloop", "--no-access-log", "--log-level", "warning"]
# What a directory must hold to be served and provisioned as a checkout of the platform.
CHECKOUT_FILES = ("config/asgi.py", "bench/provision.py")


def baseline_from_env() -> Path | None:
    """The directory BENCH_BASELINE names, checked before anything starts; None when unset."""
    value = os.environ.get("BENCH_BASELINE", "").strip()
    if not value:
        return None
    root = Path(value).expanduser().resolve()
    missing = [name for name in CHECKOUT_FILES if not (root / name).is_file()]
    if missing:
        sys.exit(
            f"BENCH_BASELINE={value!r} is not a checkout of the platform: "
            f"{root} has no {' and no '.join(missing)}. Make one of a commit with "
            f"`git worktree add /tmp/bench-base <commit>`."
        )
    return root


def _owner(file: str, roots: list[Path]) -> Path | None:
    """The checkout a file belongs to: the deepest root containing it (a worktree may be nested
    in another checkout)."""
    found = [root for root in roots if Path(file).is_relative_to(root)]
    return max(found, key=lambda root: len(root.parts), default=None)


class Checkout:
    def __init__(self, label: str, root: Path, var_dir: Path):
        self.label, self.root, self.var_dir = label, root, var_dir
        self.record = var_dir / "imported.json"

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(
            GATEHOUSE_VAR_DIR=str(self.var_dir),
            DJANGO_SETTINGS_MODULE="config.settings",
            DEBUG="0",
            LOG_LEVEL="WARNING",
            PYTHONPATH=str(self.root),
        )
        return env

    def commit(self) -> str | None:
        """The checkout's commit, read-only (other people may be using the repository)."""
        done = subprocess.run(
            ["git", "-C", str(self.root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout.strip() or None

    def provision(self, upstream_url: str, env: dict | None = None) -> dict:
        """Run the checkout's own provision.py (in `env`, by default `self.env()`: the
        embedded defaults); returns the gateway's path and token."""
        script = self.root / "bench" / "provision.py"
        done = subprocess.run(
            [sys.executable, str(script), upstream_url],
            env=env or self.env(),
            cwd=self.root,
            capture_output=True,
            text=True,
            check=False,
        )
        lines = done.stdout.strip().splitlines()
        try:
            access = json.loads(lines[-1]) if done.returncode == 0 and lines else None
        except ValueError:
            access = None
        if not isinstance(access, dict) or not {"path", "token"} <= access.keys():
            raise ServerFailed(
                f"provisioning {self.label} failed: {script} is run as `provision.py "
                f"UPSTREAM_URL` in {self.root} with an empty database, and must print "
                f'{{"path": ..., "token": ...}} as its last line (exit status '
                f"{done.returncode}):\n{done.stdout}{done.stderr}"
            )
        return access

    def uvicorn_argv(self, port: int) -> list[str]:
        flags = ["--app-dir", str(self.root), "--port", str(port), "--workers", "1", *UVICORN]
        return [sys.executable, str(BENCH / "serve.py"), str(self.record), APP, *flags]

    def check_imports(self, pid: int, roots: list[Path], timeout: float = 5) -> int:
        """How many modules the served process `pid` imported from this checkout; fails when
        it imported any from another of `roots`, or did not load the app from this one."""
        deadline = time.monotonic() + timeout
        while not self.record.exists():
            if time.monotonic() > deadline:
                raise ServerFailed(f"{self.label} did not record its imports in {self.record}.")
            time.sleep(0.1)
        record = json.loads(self.record.read_text())
        owners = {file: _owner(file, roots) for file in record["files"]}
        foreign = sorted(file for file, owner in owners.items() if owner not in (None, self.root))
        own = [file for file, owner in owners.items() if owner == self.root]
        app_file = str(self.root / "config" / "asgi.py")
        if record["pid"] != pid or foreign or app_file not in own:
            raise ServerFailed(
                f"{self.label} is not serving the code of {self.root}: process {record['pid']} "
                f"(served by {pid}) loaded {app_file}: {app_file in own}; files from another "
                f"checkout: {foreign[:10] or 'none'}"
            )
        return len(own)
