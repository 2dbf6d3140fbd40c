"""The two kinds of failure a job can end in, and how each reaches the client."""

from __future__ import annotations


class JobError(Exception):
    """A failure caused by the job's input, or reported by A1111 about it.

    The worker itself is fine: the next job runs on it as usual.
    """

    refresh_worker = False

    def __init__(self, message: str, a1111_status: int | None = None, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        # Set when A1111 itself answered with this HTTP status (counted for 5xx bursts).
        self.a1111_status = a1111_status
        # Output that still reaches the client beside the error (RunPod keeps both).
        self.extra = extra or {}

    def to_result(self) -> dict:
        result: dict = {**self.extra, "error": self.message}
        if self.refresh_worker:
            # The SDK turns this into stopPod: RunPod replaces this worker after the job.
            result["refresh_worker"] = True
        return result


class EngineError(JobError):
    """A1111 is gone, hung or broken: this job fails and the worker must be replaced."""

    refresh_worker = True
