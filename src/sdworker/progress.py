"""Progress of a running generation, read from A1111 and sent to RunPod about once a second."""

from __future__ import annotations

import asyncio
import base64
import io
import logging
from collections.abc import Callable

from PIL import Image

from . import config
from .a1111_client import A1111Client

log = logging.getLogger(__name__)

PREVIEW_SIZE = 256
Sink = Callable[[dict, dict], None]


def default_sink() -> Sink:
    """RunPod's progress_update on RunPod; elsewhere it could only log an error, so log instead."""
    if config.on_runpod():
        import runpod

        return runpod.serverless.progress_update
    return lambda job, update: log.debug("job id=%s progress %s", job.get("id"), update)


def summarize(state: dict | None, with_image: bool) -> dict | None:
    """A1111's /progress answer as a small update; None while nothing is running."""
    if not isinstance(state, dict):
        return None
    job_state = state.get("state") or {}
    if not job_state.get("job_count") and not state.get("progress"):
        return None
    step = job_state.get("sampling_step", 0)
    update = {
        "step": step,
        # Until the sampler's first step A1111 still reports the previous job's step count.
        "total_steps": job_state.get("sampling_steps", 0) if step else None,
        "percent": round(100 * float(state.get("progress") or 0), 1),
        "eta_seconds": round(float(state.get("eta_relative") or 0), 1),
        "batch": (job_state.get("job_no") or 0) + 1,
        "batches": job_state.get("job_count") or 1,
    }
    if with_image and state.get("current_image"):
        update["preview"] = _thumbnail(state["current_image"])
    return update


def _thumbnail(b64: str) -> str | None:
    try:
        with Image.open(io.BytesIO(base64.b64decode(b64))) as img:
            img.thumbnail((PREVIEW_SIZE, PREVIEW_SIZE))
            buf = io.BytesIO()
            img.convert("RGB").save(buf, "JPEG", quality=70)
        return base64.b64encode(buf.getvalue()).decode()
    except (OSError, ValueError):
        return None


async def report(client: A1111Client, job: dict, sink: Sink, interval: float, with_image: bool):
    """Poll and send until cancelled; only changes are sent."""
    last = None
    while True:
        await asyncio.sleep(interval)
        update = summarize(await asyncio.to_thread(client.progress, with_image), with_image)
        if update is not None and update != last:
            try:
                sink(job, update)
            except Exception:  # a failed progress post must never fail the job
                log.warning("progress update for job %s failed", job.get("id"), exc_info=True)
            last = update
