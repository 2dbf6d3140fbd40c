"""The real A1111 started the way the container starts it: through src/start.sh, on the host.

start.sh launches A1111 from the engine directory (tests/engine/build.py), warms it up, then
runs the worker with the runpod SDK's local API server. Used by the real-engine tests
(tests/real) and the benchmarks; no pytest here.

Only one real engine runs at a time on a machine (about 9 GB each): `engine_lock()` is held
for as long as one runs, by every user of this module and by anything else that starts one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.a1111_standin.harness import REPO_ROOT, free_port
from tests.engine.build import CHECKPOINT, engine_lock

__all__ = ["RealWorker", "engine_lock"]

START_TIMEOUT = 300.0


class RealWorker:
    """start.sh + the real A1111 + the worker's local API server, in one process group."""

    def __init__(
        self, engine: Path, run_dir: Path, start_sh: Path | None = None, **env: str
    ) -> None:
        self.engine = engine
        # Another revision's start.sh (the benchmarks' baseline); it runs its own handler.
        self.start_sh = start_sh or REPO_ROOT / "src" / "start.sh"
        self.run_dir = run_dir
        self.webui_port = free_port()
        self.api_port = free_port()
        self.webui_url = f"http://127.0.0.1:{self.webui_port}"
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.log_path = run_dir / "start.log"
        self.webui_log = run_dir / "webui.log"
        self.pid_file = run_dir / "webui.pid"
        self.extra_env = env
        self.proc: subprocess.Popen | None = None
        self.launched_at = 0.0

    def environment(self) -> dict[str, str]:
        webui = self.engine / "webui"
        return {
            **os.environ,
            "WEBUI_DIR": str(webui),
            "WEBUI_PYTHON": str(self.engine / "venv" / "bin" / "python"),
            "WEBUI_CPU": "1",
            "WEBUI_CKPT": str(webui / "models" / "Stable-diffusion" / CHECKPOINT),
            "WEBUI_PORT": str(self.webui_port),
            "WEBUI_URL": self.webui_url,
            "WEBUI_LOG": str(self.webui_log),
            "WEBUI_PID_FILE": str(self.pid_file),
            "WEBUI_EXIT_FILE": str(self.run_dir / "webui.exit"),
            "HF_HOME": str(self.engine / "hf-home"),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HANDLER_PYTHON": sys.executable,
            "SERVE_LOCAL_API": "1",
            "RP_API_HOST": "127.0.0.1",
            "RP_API_PORT": str(self.api_port),
            "MODELS_VOLUME_DIR": str(self.run_dir / "no-volume"),
            **self.extra_env,
        }

    def start(self, timeout: float = START_TIMEOUT) -> None:
        self.launch()
        self._wait_serving(timeout)

    def launch(self) -> None:
        """Starts start.sh and returns at once."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.launched_at = time.monotonic()
        with self.log_path.open("w") as log:  # a file: a full pipe would block the worker
            self.proc = subprocess.Popen(
                ["bash", str(self.start_sh)],
                cwd=REPO_ROOT,
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _wait_serving(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"start.sh exited with {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(requests.RequestException):
                requests.get(self.api_url + "/docs", timeout=1)
                return
            time.sleep(0.2)
        raise RuntimeError(f"the worker did not serve within {timeout:g} s:\n{self.log()}")

    def log(self, tail: int = 60) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-tail:])

    def requests_logged(self, route: str, settle: float = 0.3, bound: float = 5.0) -> int:
        """How many POSTs to `route` A1111 has logged, once its log is still: uvicorn writes a
        request's access line after sending the answer, so one just answered may not be there
        yet (and would seem to arrive later)."""
        line = f'"POST {route} HTTP/1.1"'
        count = self.webui_log.read_text(errors="replace").count(line)
        deadline = time.monotonic() + bound
        while time.monotonic() < deadline:
            time.sleep(settle)
            again = self.webui_log.read_text(errors="replace").count(line)
            if again == count:
                break
            count = again
        return count

    def webui_pid(self) -> int:
        return int(self.pid_file.read_text().strip())

    def is_healthy(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            return False
        try:
            os.kill(self.webui_pid(), 0)
            requests.get(self.webui_url + "/sdapi/v1/progress", timeout=3).raise_for_status()
        except (OSError, ValueError, requests.RequestException):
            return False
        return True

    def runsync(self, job_input: dict, timeout: float = 300) -> dict:
        resp = requests.post(self.api_url + "/runsync", json={"input": job_input}, timeout=timeout)
        resp.raise_for_status()
        return resp.json()

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, ValueError, OSError):
            os.kill(self.webui_pid(), signal.SIGCONT)  # a frozen A1111 cannot act on TERM
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.proc = None
