"""The stand-in A1111 as a subprocess, and a client for its /__standin__/ control API.

Used by the tests' fixtures (tests/conftest.py) and by the benchmarks (bench/); no pytest here.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
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

    def __enter__(self) -> StandIn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

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


def launch_standin(
    *extra_args: str, log_dir: Path, wait: bool = True, port: int | None = None
) -> StandIn:
    port = port or free_port()
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
