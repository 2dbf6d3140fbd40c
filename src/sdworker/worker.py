"""Job lifecycle: readiness, validation, dispatch through the operations table, one log line."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from .a1111_client import A1111Client
from .catalog import Catalog
from .config import Settings
from .errors import EngineError, JobError
from .inputs import validate
from .operations import DEFAULT_API, OPERATIONS, Context
from .outputs import OutputHandler
from .storage import Bucket

log = logging.getLogger("sdworker")


class Worker:
    def __init__(self, settings: Settings, bucket: Bucket | None = None):
        self.settings = settings
        self.client = A1111Client(settings)
        outputs = OutputHandler(settings.max_result_bytes, *_bucket(bucket))
        self.context = Context(self.client, Catalog(self.client), settings, outputs)
        self._ready_lock = threading.Lock()
        self._ready: bool | None = None

    def ensure_ready(self) -> None:
        """Wait once, bounded, for A1111; after a timeout all jobs fail and ask for a new worker."""
        with self._ready_lock:
            if self._ready is None:
                started = time.monotonic()
                self._ready = self.client.wait_ready(self.settings.ready_timeout)
                log.info(
                    "A1111 at %s %s after %.2f s",
                    self.settings.webui_url,
                    "is ready" if self._ready else "did NOT become ready",
                    time.monotonic() - started,
                )
        if not self._ready:
            raise EngineError(
                f"A1111 at {self.settings.webui_url} did not answer within "
                f"{self.settings.ready_timeout:g} s (WEBUI_READY_TIMEOUT); "
                "this worker is being replaced"
            )

    def handle(self, job: dict) -> Any:
        started = time.monotonic()
        job_input = job.get("input") if isinstance(job, dict) else None
        api = job_input.get("api", DEFAULT_API) if isinstance(job_input, dict) else None
        outcome = "ok"
        try:
            result = self._run(job_input, str(job.get("id")))
        except JobError as exc:
            outcome = "engine-error" if exc.refresh_worker else "error"
            result = exc.to_result()
        except Exception as exc:  # a bug here must still answer the job, never crash the worker
            log.exception("unexpected failure in job %s", job.get("id"))
            outcome = "internal-error"
            result = {"error": f"internal worker error ({type(exc).__name__}): {exc}"}
        _log_job(job, api, job_input, outcome, time.monotonic() - started, result)
        return result

    def _run(self, job_input: Any, job_id: str) -> Any:
        if not isinstance(job_input, dict):
            raise JobError(
                'input must be a JSON object, e.g. {"api": "txt2img", "prompt": "a cat"}'
            )
        payload = dict(job_input)
        api = payload.pop("api", DEFAULT_API)
        operation = OPERATIONS.get(api) if isinstance(api, str) else None
        if operation is None:
            raise JobError(f"api: unknown operation {api!r}; valid: {', '.join(OPERATIONS)}")
        context = {
            "max_dimension": self.settings.max_dimension,
            "max_image_bytes": self.settings.max_image_bytes,
        }
        args = validate(operation.input, payload, context)
        self.ensure_ready()
        return operation.run(self.context, args, job_id)


def _bucket(given: Bucket | None) -> tuple[Bucket | None, str | None]:
    """The bucket to upload to, or why there is none that can be used."""
    if given is not None:
        return given, None
    try:
        return Bucket.from_env(), None
    except ValueError as exc:  # half configured: uploads fail with this, nothing else does
        log.error("%s", exc)
        return None, str(exc)


def _log_job(job, api, job_input, outcome, seconds, result) -> None:
    fields = job_input if isinstance(job_input, dict) else {}
    size = f"{fields.get('width', '-')}x{fields.get('height', '-')}"
    log.info(
        "job id=%s api=%s size=%s steps=%s duration=%.3fs outcome=%s",
        job.get("id") if isinstance(job, dict) else None,
        api,
        size,
        fields.get("steps", "-"),
        seconds,
        outcome,
    )
    if outcome != "ok" and isinstance(result, dict):
        log.info(
            "job id=%s error: %s",
            job.get("id") if isinstance(job, dict) else None,
            result.get("error"),
        )
    log.debug(
        "job id=%s prompt=%r",
        job.get("id") if isinstance(job, dict) else None,
        fields.get("prompt"),
    )
