"""Shared fixtures: the A1111 stand-in server (tests/a1111_standin) as a subprocess.

- `start_standin(*cli_args, wait=True)`: a fresh stand-in for one test (killed at teardown).
- `standin`: one stand-in shared by the whole session.
- `a1111`: the shared stand-in, reset to its start state for this test.
- `SHARED_DIR` / `shared_dir`: the folder with A1111's recorded exchanges and OpenAPI document
  ($SHARED_DIR, else ../shared beside the repository).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("SHARED_DIR") or REPO_ROOT.parent / "shared")
READY_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StandIn:
    """A running stand-in process and a client for its /__standin__/ control API."""

    def __init__(self, proc: subprocess.Popen, port: int, args: tuple[str, ...], log: Path):
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.args = args
        self.log_path = log

    def __repr__(self) -> str:
        return f"StandIn({self.url}, pid={self.proc.pid}, args={self.args})"

    # --- plain HTTP ------------------------------------------------------------------------
    def call(
        self,
        method: str,
        route: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        timeout: float = 30.0,
    ) -> tuple[int, Any]:
        """One request (JSON in and out); returns (status, decoded JSON body or text)."""
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(self.url + route, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, payload = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, payload = exc.code, exc.read()
        try:
            return status, json.loads(payload) if payload else None
        except ValueError:
            return status, payload.decode(errors="replace")

    def _control(self, method: str, name: str, body: Any = None) -> Any:
        status, payload = self.call(method, f"/__standin__/{name}", body, timeout=10)
        if status != 200:
            raise AssertionError(f"stand-in control {method} {name} -> {status}: {payload}")
        return payload

    # --- control API -----------------------------------------------------------------------
    def fault(self, route: str, mode: str, **kw: Any) -> Any:
        """Queue a fault: mode "status" (status=, body=), "hang", "close" or "delay"
        (seconds=); times=N for the next N matching requests only (default: every time)."""
        return self._control("POST", "faults", {"route": route, "mode": mode, **kw})

    def clear_faults(self) -> None:
        self._control("DELETE", "faults")

    def config(self, **kw: Any) -> dict:
        """Change behaviour at run time (generation_seconds, loras, models, ...)."""
        return self._control("POST", "config", kw)

    def stats(self) -> dict:
        return self._control("GET", "stats")

    def reset(self) -> None:
        self._control("POST", "reset")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # --- process ---------------------------------------------------------------------------
    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Wait until the port accepts connections and (unless started with --hang) the
        server answers."""
        deadline = time.monotonic() + timeout
        hang = "--hang" in self.args
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"stand-in exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                if hang:
                    return
                status, _ = self.call("GET", "/__standin__/state", timeout=1.0)
                if status == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"stand-in did not answer within {timeout} s:\n{self.log()}")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL, then wait for the process."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM (SIGKILL if it does not end within 5 s)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()


def launch_standin(*extra_args: str, log_dir: Path, wait: bool = True) -> StandIn:
    port = free_port()
    args = tuple(str(a) for a in extra_args)
    log = log_dir / f"standin-{port}.log"
    cmd = [sys.executable, "-m", "tests.a1111_standin", "--host", "127.0.0.1", "--port", str(port)]
    with open(log, "wb") as log_fh:
        proc = subprocess.Popen(
            [*cmd, *args],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log_fh,
            stderr=subprocess.STDOUT,
        )
    standin = StandIn(proc, port, args, log)
    if wait:
        try:
            standin.wait_ready()
        except BaseException:
            standin.kill()
            raise
    return standin


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
    port = free_port()
    env = {**os.environ, "WEBUI_URL": a1111.url, "WEBUI_READY_TIMEOUT": "10"}
    log_path = tmp_path / "worker.log"
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
