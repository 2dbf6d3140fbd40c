"""RunPod entry point: a thin dispatcher from RunPod jobs to the A1111 API."""

from __future__ import annotations

import logging
import os

# The SDK reads its level once, at import, and at its DEBUG default logs every job output,
# base64 images included.
os.environ.setdefault("RUNPOD_LOG_LEVEL", "INFO")

import runpod

from sdworker.config import Settings
from sdworker.errors import JobError
from sdworker.worker import Worker

_worker: Worker | None = None


def get_worker() -> Worker:
    global _worker
    if _worker is None:
        _worker = Worker(Settings.from_env())
    return _worker


async def handler(job: dict):
    # Async, so that RunPod's cancel reaches the job (and A1111 is interrupted).
    return await get_worker().handle(job)


def main() -> None:
    # runpod configures the root logger at import; force ours in its place.
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    worker = get_worker()
    # Wait before taking jobs, so queued jobs go to ready workers; on a timeout, start
    # anyway: each job then gets a clear error and asks RunPod for a new worker.
    try:
        worker.ensure_ready()
        worker.context.catalog.warm()
    except JobError as exc:
        logging.getLogger("sdworker").error("%s", exc)
    runpod.serverless.start({"handler": handler})


if __name__ == "__main__":
    main()
