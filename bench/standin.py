"""The stand-in A1111 (tests/a1111_standin) as a subprocess, and its /__standin__/ control API."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from typing import Any

import requests

from . import REPO_ROOT


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StandIn:
    def __init__(self, *args: str, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "tests.a1111_standin", "--host", "127.0.0.1"]
        self.proc = subprocess.Popen(
            [*cmd, "--port", str(self.port), "--quiet", *args],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._control = requests.Session()

    def __enter__(self) -> StandIn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"the stand-in exited with {self.proc.returncode}: {err}")
            with contextlib.suppress(requests.RequestException):
                if self._control.get(self.url + "/__standin__/state", timeout=1).ok:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the stand-in did not answer within {timeout:g} s")
            time.sleep(0.02)

    def control(self, method: str, name: str, body: Any = None) -> Any:
        resp = self._control.request(
            method, f"{self.url}/__standin__/{name}", json=body, timeout=60
        )
        if resp.status_code != 200:
            raise RuntimeError(f"stand-in {method} {name}: {resp.status_code} {resp.text[:300]}")
        return resp.json()

    def config(self, **changes: Any) -> dict:
        return self.control("POST", "config", changes)

    def stats(self) -> dict:
        return self.control("GET", "stats")

    def reset(self) -> None:
        self.control("POST", "reset")

    def stop(self) -> None:
        self._control.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc.stderr:
            self.proc.stderr.close()
