"""RunPod entry point: a thin dispatcher from RunPod jobs to the A1111 API."""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import TYPE_CHECKING

# The SDK reads its level once, at import, and at its DEBUG default logs every job output,
# base64 images included.
os.environ.setdefault("RUNPOD_LOG_LEVEL", "INFO")

from sdworker.config import ConfigError, Settings
from sdworker.errors import JobError
from sdworker.start_gate import GateClosed, wait_for_gate

if TYPE_CHECKING:
    from sdworker.worker import Worker

_worker: Worker | None = None
# start.sh's own warm-up is bounded by WEBUI_READY_TIMEOUT; this covers its reporting after it.
GATE_MARGIN = 60.0


def new_worker(settings: Settings) -> Worker:
    # Imported once the environment is known to be good: importing the SDK (which the
    # worker does) checks RUNPOD_LOG_LEVEL and fails with a traceback on a bad value.
    from sdworker.worker import Worker

    return Worker(settings)


def get_worker() -> Worker:
    global _worker
    if _worker is None:
        _worker = new_worker(Settings.from_env())
    return _worker


async def handler(job: dict):
    # Async, so that RunPod's cancel reaches the job (and A1111 is interrupted).
    return await get_worker().handle(job)


def main() -> None:
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        # One line and exit status 1: what to fix, not a traceback.
        sys.exit(f"worker not started: {exc}")
    global _worker
    _worker = new_worker(settings)
    import runpod

    # runpod configures the root logger at import; force ours in its place.
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    log = logging.getLogger("sdworker")
    log.info("worker starting: %s", settings.summary())
    if settings.bucket_problem:
        log.warning("%s", settings.bucket_problem)
    # Under start.sh this runs while A1111 loads its checkpoint, beside the wait for the gate,
    # which may close first (A1111 never ready): then the worker stops at once.
    preparing = threading.Thread(target=prepare, args=(_worker, log), daemon=True)
    preparing.start()
    if settings.start_gate:
        try:
            wait_for_gate(settings.start_gate, settings.ready_timeout + GATE_MARGIN)
        except GateClosed as exc:
            sys.exit(f"worker not started: {exc}")
    preparing.join()
    log.info("worker serving: taking jobs")
    runpod.serverless.start({"handler": handler})


def prepare(worker: Worker, log: logging.Logger) -> None:
    """Waits for A1111 before jobs come, so queued jobs go to ready workers; on a timeout the
    worker starts anyway: each job then gets a clear error and asks RunPod for a new worker."""
    try:
        worker.ensure_ready()
        worker.context.catalog.warm()
    except JobError as exc:
        log.error("%s", exc)
        return
    log.info(
        "worker prepared%s",
        "; waiting for start.sh's warm-up of A1111" if worker.settings.start_gate else "",
    )


if __name__ == "__main__":
    main()
