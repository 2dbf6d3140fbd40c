"""Job lifecycle: readiness, validation, one generation at a time, progress, timeouts,
cancellation, engine faults, and one log line per job."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from . import progress
from .a1111_client import A1111Client
from .catalog import Catalog
from .config import Settings
from .errors import EngineError, JobError
from .inputs import validate
from .operations import DEFAULT_API, OPERATIONS, Call, Context
from .outputs import OutputHandler, OutputOptions

log = logging.getLogger("sdworker")


class ImageResult(dict):
    """A job's output, printing as one line.

    The runpod SDK formats every handler output into two debug messages even when debug
    logging is off: for a 6 MB result that costs ~18 ms and two copies in memory per job.
    Everything else (json, FastAPI, `pop`) sees the plain dict.
    """

    def __repr__(self) -> str:
        images = self.get("images") or []
        size = sum(len(i) for i in images if isinstance(i, str))
        return f"<job output: {len(images)} images, {size / 1e6:.1f} MB, keys {sorted(self)}>"

    __str__ = __repr__


class Worker:
    def __init__(self, settings: Settings, progress_sink: progress.Sink | None = None):
        self.settings = settings
        self.client = A1111Client(settings)
        outputs = OutputHandler(settings.max_result_bytes, settings.bucket, settings.bucket_problem)
        self.context = Context(self.client, Catalog(self.client), settings, outputs)
        self.progress_sink = progress_sink if progress_sink is not None else progress.default_sink()
        self._ready_lock = threading.Lock()
        self._ready: bool | None = None
        # A1111 generates one job at a time; holding this while it does lets an interrupt
        # or a progress reading be attributed to the right job.
        self._generation_lock = threading.Lock()
        self._state_lock = threading.Lock()  # `abandoned` and `_generating` change together
        self._generating: str | None = None
        self._failures_in_a_row = 0

    # --- readiness -------------------------------------------------------------------------

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

    # --- one job ---------------------------------------------------------------------------

    async def handle(self, job: dict) -> Any:
        """The RunPod handler: always returns the job's answer, except when RunPod cancels it."""
        started = time.monotonic()
        outcome, result = "error", None
        try:
            call = self.prepare(job)
            await asyncio.to_thread(self.ensure_ready)
            result = await self._run(call)
            outcome = "ok"
        except JobError as exc:
            outcome = "engine-error" if exc.refresh_worker else "error"
            result = exc.to_result()
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        except Exception as exc:  # a bug here must still answer the job, never crash the worker
            log.exception("unexpected failure in job %s", _job_id(job))
            outcome = "internal-error"
            result = {"error": f"internal worker error ({type(exc).__name__}): {exc}"}
        finally:
            _log_job(job, outcome, time.monotonic() - started, result)
        return ImageResult(result) if isinstance(result, dict) and result.get("images") else result

    def prepare(self, job: dict) -> Call:
        """Everything that needs no A1111: the operation and its validated parameters."""
        job_input = job.get("input") if isinstance(job, dict) else None
        if not isinstance(job_input, dict):
            raise JobError(
                'input must be a JSON object, e.g. {"api": "txt2img", "prompt": "a cat"}'
            )
        payload = dict(job_input)
        api = payload.pop("api", DEFAULT_API)
        operation = OPERATIONS.get(api) if isinstance(api, str) else None
        if operation is None:
            raise JobError(f"api: unknown operation {api!r}; valid: {', '.join(OPERATIONS)}")
        limits = {
            "max_dimension": self.settings.max_dimension,
            "max_image_bytes": self.settings.max_image_bytes,
            "job_timeout": self.settings.job_timeout,
        }
        args = validate(operation.input, payload, limits)
        timeout = min(
            args.pop("timeout", None) or self.settings.job_timeout, self.settings.job_timeout
        )
        with_images = bool(args.pop("progress_images", False))
        if with_images:
            _ask_for_previews(args)
        # The worker's own fields leave here; what remains is A1111's payload.
        output = OutputOptions.pop_from(args)
        self.context.outputs.check(output)
        return Call(job, operation, args, timeout, with_images, output)

    async def _run(self, call: Call) -> Any:
        work = asyncio.ensure_future(asyncio.to_thread(self._execute, call))
        # An abandoned job's thread may still fail later; nobody is waiting for it then.
        work.add_done_callback(lambda done: done.cancelled() or done.exception())
        reporter = None
        if call.operation.generates:
            reporter = asyncio.ensure_future(self._report_progress(call))
        try:
            # shield: on a timeout or cancel the thread finishes on its own; we stop A1111.
            return await asyncio.wait_for(asyncio.shield(work), call.timeout)
        except asyncio.TimeoutError:
            return await self._stop(call, work, f"timed out after {call.timeout:g} s")
        except asyncio.CancelledError:
            await asyncio.to_thread(self._abandon, call)
            raise
        finally:
            if reporter is not None:
                reporter.cancel()

    async def _report_progress(self, call: Call) -> None:
        interval = self.settings.progress_interval
        while self._generating != call.job_id:  # not our turn yet: nothing to report
            await asyncio.sleep(min(interval, 0.05))
        await progress.report(
            self.client, call.job, self.progress_sink, interval, call.progress_images
        )

    async def _stop(self, call: Call, work: asyncio.Future, reason: str) -> Any:
        stopped = await asyncio.to_thread(self._abandon, call)
        if stopped is None:
            raise JobError(f"job {reason} (JOB_TIMEOUT or the job's timeout) before it started")
        if not stopped:
            raise EngineError(
                f"job {reason}; A1111 did not answer the interrupt, so it is treated as hung"
            )
        done, _ = await asyncio.wait({work}, timeout=self.settings.interrupt_grace)
        if not done or isinstance(_failure(work), EngineError):
            raise EngineError(
                f"job {reason}; A1111 did not stop within {self.settings.interrupt_grace:g} s "
                "of the interrupt, so it is treated as hung"
            )
        raise JobError(f"job {reason} (JOB_TIMEOUT or the job's timeout); A1111 was interrupted")

    def _abandon(self, call: Call) -> bool | None:
        """Stop a job: None if it had not started (it never will), else whether A1111 answered
        the interrupt."""
        with self._state_lock:
            call.abandoned.set()
            started = self._generating == call.job_id
        if not started:
            return None
        log.info("job id=%s: interrupting A1111", call.job_id)
        return self.client.interrupt()

    def _execute(self, call: Call) -> Any:
        """The blocking part, in a worker thread."""
        if not call.operation.generates:
            return self._counting_failures(call)
        with self._generation_lock:
            with self._state_lock:
                if call.abandoned.is_set():
                    raise JobError("job ended before its turn")
                self._generating = call.job_id
            try:
                return self._counting_failures(call)
            finally:
                self._generating = None

    def _counting_failures(self, call: Call) -> Any:
        try:
            result = call.operation.run(self.context, call)
        except JobError as exc:
            if not (exc.a1111_status and exc.a1111_status >= 500) or exc.refresh_worker:
                raise
            self._failures_in_a_row += 1
            if self._failures_in_a_row >= self.settings.failure_burst:
                raise EngineError(
                    f"{exc.message} ({self._failures_in_a_row} A1111 failures in a row: "
                    "the engine looks broken)",
                    exc.a1111_status,
                ) from exc
            raise
        self._failures_in_a_row = 0
        return result


def _failure(work: asyncio.Future) -> BaseException | None:
    return None if work.cancelled() else work.exception()


def _ask_for_previews(args: dict) -> None:
    # A1111 draws a preview only every N steps (10 by default): about five per job, for
    # this job only (override_settings are restored afterwards).
    overrides = dict(args.get("override_settings") or {})
    overrides.setdefault("show_progress_every_n_steps", max(1, (args.get("steps") or 20) // 5))
    args["override_settings"] = overrides


def _job_id(job: Any) -> Any:
    return job.get("id") if isinstance(job, dict) else None


def _log_job(job: Any, outcome: str, seconds: float, result: Any) -> None:
    job_input = job.get("input") if isinstance(job, dict) else None
    fields = job_input if isinstance(job_input, dict) else {}
    images = result.get("images") if isinstance(result, dict) else None
    log.info(
        "job id=%s api=%s size=%sx%s steps=%s images=%s duration=%.3fs outcome=%s",
        _job_id(job),
        fields.get("api", DEFAULT_API) if job_input is not None else None,
        fields.get("width", "-"),
        fields.get("height", "-"),
        fields.get("steps", "-"),
        len(images) if isinstance(images, list) else "-",
        seconds,
        outcome,
    )
    if isinstance(result, dict) and "error" in result:
        log.info("job id=%s error: %s", _job_id(job), result["error"])
    log.debug("job id=%s prompt=%r", _job_id(job), fields.get("prompt"))
