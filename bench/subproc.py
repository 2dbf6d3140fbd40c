"""Starting `python -m bench.child ...` and reading its result lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from . import REPO_ROOT
from .child import RESULT_PREFIX


def child_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.child", *args]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("RUNPOD_LOG_LEVEL", "INFO")
    return env


def run_child(*args: str, timeout: float = 120) -> list[dict]:
    proc = subprocess.run(
        child_command(*args),
        cwd=REPO_ROOT,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"bench child {' '.join(args)} exited with {proc.returncode}:\n{proc.stderr[-2000:]}"
        )
    return parse_results(proc.stdout)


def parse_results(text: str) -> list[dict]:
    return [
        json.loads(line[len(RESULT_PREFIX) :])
        for line in text.splitlines()
        if line.startswith(RESULT_PREFIX)
    ]
