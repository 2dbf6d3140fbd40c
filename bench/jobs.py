"""A job run as RunPod runs it (runpod's own run_job, awaited in one event loop), and the
baseline: the same request sent straight to A1111 with requests."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from typing import Any

import requests

from . import use_worker_sources
from .payloads import TXT2IMG

# As src/handler.py does before importing runpod: its DEBUG default would log every output.
os.environ.setdefault("RUNPOD_LOG_LEVEL", "INFO")


def quiet_logging() -> None:
    """runpod configures the root logger at import: keep its and the worker's lines (and
    their formatting cost, as in production) but send them nowhere."""
    import runpod  # noqa: F401  (its import sets the root logger up)

    logging.basicConfig(level=logging.INFO, stream=open(os.devnull, "w"), force=True)  # noqa: SIM115


def make_worker(url: str, ready_timeout: float = 60.0):
    use_worker_sources()
    from sdworker.config import Settings
    from sdworker.worker import Worker

    return Worker(Settings(webui_url=url, ready_timeout=ready_timeout))


class JobRunner:
    """Runs jobs through `worker.handle` with runpod's run_job, in one event loop (as the SDK
    does). The SDK's own per-job lines (printed to stdout) go to /dev/null."""

    def __init__(self, worker: Any):
        from runpod.serverless.modules.rp_job import run_job

        self._run_job = run_job
        self.handler = worker.handle
        self.loop = asyncio.new_event_loop()
        self._ids = itertools.count(1)
        self._devnull = open(os.devnull, "w")  # noqa: SIM115

    def run(self, job_input: dict) -> dict:
        """What RunPod receives: {"output": ...} or {"error": ...}."""
        job = {"id": f"bench-{next(self._ids)}", "input": dict(job_input)}
        with contextlib.redirect_stdout(self._devnull):
            return self.loop.run_until_complete(self._run_job(self.handler, job))

    def close(self) -> None:
        self.loop.close()
        self._devnull.close()


def baseline(url: str, payload: dict) -> Any:
    """What any client does: requests.post(...) then resp.json()."""
    resp = requests.post(url + TXT2IMG, json=payload, timeout=600)
    if resp.status_code != 200:
        raise RuntimeError(f"A1111 answered {resp.status_code}: {resp.text[:300]}")
    return resp.json()


def job_problem(result: dict) -> str | None:
    if "error" in result:
        return f"the job failed: {str(result['error'])[:500]}"
    return None
