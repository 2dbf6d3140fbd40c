"""Shared fixtures: the A1111 stand-in server (tests/a1111_standin) as a subprocess.

- `start_standin(*cli_args, wait=True)`: a fresh stand-in for one test (killed at teardown).
- `standin`: one stand-in shared by the whole session.
- `a1111`: the shared stand-in, reset to its start state for this test.
- `local_api` / `local_api_with(**env)`: `python src/handler.py --rp_serve_api` against `a1111`.
- `SHARED_DIR` / `shared_dir`: the folder with A1111's recorded exchanges and OpenAPI document
  ($SHARED_DIR, else ../shared beside the repository).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.a1111_standin.harness import REPO_ROOT, StandIn, free_port, launch_standin

__all__ = ["REPO_ROOT", "SHARED_DIR", "StandIn", "free_port", "launch_standin"]

SHARED_DIR = Path(os.environ.get("SHARED_DIR") or REPO_ROOT.parent / "shared")


@pytest.fixture
def start_standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """Factory: start_standin(*extra_cli_args, wait=True) -> StandIn, killed at teardown."""
    started: list[StandIn] = []
    log_dir = tmp_path_factory.mktemp("standin")

    def _start(*extra_args: str, wait: bool = True) -> StandIn:
        standin = launch_standin(*extra_args, log_dir=log_dir, wait=wait)
        started.append(standin)
        return standin

    yield _start
    for standin in started:
        standin.kill()


@pytest.fixture(scope="session")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    """One stand-in for the whole test session."""
    server = launch_standin(log_dir=tmp_path_factory.mktemp("standin-session"))
    yield server
    server.stop()


@pytest.fixture
def a1111(standin: StandIn) -> StandIn:
    """The session stand-in, reset (options, config, faults, stats) for this test."""
    if standin.proc.poll() is not None:
        pytest.fail(f"the session stand-in died:\n{standin.log()}")
    standin.reset()
    return standin


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return SHARED_DIR


# The SDK's FastAPI server parses only bodies declared as JSON (plain `curl -d` gets a 422).
JSON_HEADERS = {"Content-Type": "application/json"}


@pytest.fixture
def local_api(a1111, tmp_path):
    """`python src/handler.py --rp_serve_api` against the stand-in: (url, process)."""
    with serving_local_api(a1111, tmp_path) as api:
        yield api


@pytest.fixture
def local_api_with(a1111, tmp_path):
    """Factory: local_api_with(**env) -> (url, process), the same server with these variables."""
    with contextlib.ExitStack() as stack:
        count = itertools.count()

        def _start(**env: str) -> tuple[str, subprocess.Popen]:
            log_dir = tmp_path / f"local-api-{next(count)}"
            return stack.enter_context(serving_local_api(a1111, log_dir, env))

        yield _start


@contextlib.contextmanager
def serving_local_api(a1111, log_dir: Path, extra_env: dict | None = None):
    log_dir.mkdir(exist_ok=True)
    port = free_port()
    env = {**os.environ, "WEBUI_URL": a1111.url, "WEBUI_READY_TIMEOUT": "10", **(extra_env or {})}
    log_path = log_dir / "worker.log"
    with open(log_path, "w") as log:  # a file, not a pipe: a full pipe would block the worker
        proc = subprocess.Popen(
            [sys.executable, "src/handler.py", "--rp_serve_api", "--rp_api_port", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(url + "/docs", timeout=1)
            break
        except requests.ConnectionError:
            assert proc.poll() is None, log_path.read_text()
            time.sleep(0.1)
    yield url, proc
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    text = log_path.read_text()
    assert "job id=" in text  # the log is really captured here...
    # ...and never holds image data: the PNG signature in base64 must not appear.
    assert "iVBORw0KGgo" not in text
