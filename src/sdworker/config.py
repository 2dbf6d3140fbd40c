"""Worker configuration, read once from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must be a number, got {raw!r}") from exc


def _env_int(name: str, default: int) -> int:
    return int(_env_float(name, default))


@dataclass(frozen=True)
class Settings:
    """Everything the worker can be told from outside. Field names mirror the variables."""

    webui_url: str = "http://127.0.0.1:3000"
    # Overall bound on waiting for A1111 to answer before the first job.
    ready_timeout: float = 600.0
    # Readiness is polled at most this often (seconds).
    ready_poll_interval: float = 0.05
    connect_timeout: float = 3.0
    # Reads of lists, options and other quick routes.
    read_timeout: float = 60.0
    # Whole-job bound (a job's own `timeout` may only shorten it): under RunPod's 600 s default.
    job_timeout: float = 580.0
    # After an interrupt, how long A1111 gets to stop before it counts as hung.
    interrupt_grace: float = 10.0
    progress_interval: float = 1.0
    # This many A1111 5xx answers in a row mean the engine is broken, not the inputs.
    failure_burst: int = 3
    max_dimension: int = 2048
    # Decoded size cap for each incoming image (init_images, mask, extras image...).
    max_image_bytes: int = 20 * 1024 * 1024
    # Serialized result cap: RunPod's /runsync limit is 20 MB (10 MB for /run).
    max_result_bytes: int = 19_000_000
    # Download bound for init images given as URLs.
    image_url_timeout: float = 30.0

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            webui_url=os.environ.get("WEBUI_URL", cls.webui_url).rstrip("/"),
            ready_timeout=_env_float("WEBUI_READY_TIMEOUT", cls.ready_timeout),
            connect_timeout=_env_float("WEBUI_CONNECT_TIMEOUT", cls.connect_timeout),
            read_timeout=_env_float("WEBUI_READ_TIMEOUT", cls.read_timeout),
            job_timeout=_env_float("JOB_TIMEOUT", cls.job_timeout),
            interrupt_grace=_env_float("INTERRUPT_GRACE", cls.interrupt_grace),
            progress_interval=_env_float("PROGRESS_INTERVAL", cls.progress_interval),
            failure_burst=_env_int("FAILURE_BURST", cls.failure_burst),
            max_dimension=_env_int("MAX_DIMENSION", cls.max_dimension),
            max_image_bytes=_env_int("MAX_IMAGE_BYTES", cls.max_image_bytes),
            max_result_bytes=_env_int("MAX_RESULT_BYTES", cls.max_result_bytes),
            image_url_timeout=_env_float("IMAGE_URL_TIMEOUT", cls.image_url_timeout),
        )
