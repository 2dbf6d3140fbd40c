"""Worker configuration: every environment variable the worker reads is parsed here, once.

A bad value is a ConfigError naming the variable, the value and what is allowed, for all bad
variables at once; the handler stops with that one line rather than a traceback.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# The runpod SDK's own list (rp_logger.LOG_LEVELS). The SDK checks RUNPOD_LOG_LEVEL when it is
# imported, with a traceback on a bad value, so it cannot be asked: it is checked here first.
RUNPOD_LOG_LEVELS = ("NOTSET", "TRACE", "DEBUG", "INFO", "WARN", "ERROR")
# S3 presigned URLs (signature v4) last at most 7 days.
MAX_URL_EXPIRY = 7 * 24 * 3600
BUCKET_VARS = (
    "BUCKET_ENDPOINT_URL",
    "BUCKET_ACCESS_KEY_ID",
    "BUCKET_SECRET_ACCESS_KEY",
    "BUCKET_NAME",
)


class ConfigError(ValueError):
    """Bad environment variables, as one line: 'NAME=value: allowed ...'."""


def _seconds(raw: str) -> float:
    value = float(raw)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(raw)
    return value


def _whole(low: int, high: int | None = None, step: int = 1) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)  # "3.5", "1e3" and words are refused, not rounded
        if value < low or (high is not None and value > high) or value % step:
            raise ValueError(raw)
        return value

    return parse


def _url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(raw)
    _ = parts.port  # raises ValueError on a port that is not a number in range
    return raw.rstrip("/")


def _one_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw.upper() not in choices:
            raise ValueError(raw)
        return raw.upper()

    return parse


@dataclass(frozen=True)
class Var:
    """One environment variable: the Settings field it sets, its parser, what it allows."""

    field: str | None
    parse: Callable[[str], Any]
    allowed: str


_SECONDS = "a number of seconds above 0"
_BYTES = "a whole number of bytes, 1 or more"

VARIABLES: dict[str, Var] = {
    "WEBUI_URL": Var("webui_url", _url, "an http:// or https:// URL, e.g. http://127.0.0.1:3000"),
    "WEBUI_READY_TIMEOUT": Var("ready_timeout", _seconds, _SECONDS),
    "WEBUI_CONNECT_TIMEOUT": Var("connect_timeout", _seconds, _SECONDS),
    "WEBUI_READ_TIMEOUT": Var("read_timeout", _seconds, _SECONDS),
    "JOB_TIMEOUT": Var("job_timeout", _seconds, _SECONDS),
    "INTERRUPT_GRACE": Var("interrupt_grace", _seconds, _SECONDS),
    "PROGRESS_INTERVAL": Var("progress_interval", _seconds, _SECONDS),
    "FAILURE_BURST": Var("failure_burst", _whole(1), "a whole number, 1 or more"),
    "MAX_DIMENSION": Var("max_dimension", _whole(64, step=8), "a multiple of 8, 64 or more"),
    "MAX_IMAGE_BYTES": Var("max_image_bytes", _whole(1), _BYTES),
    "MAX_RESULT_BYTES": Var("max_result_bytes", _whole(1), _BYTES),
    "IMAGE_URL_TIMEOUT": Var("image_url_timeout", _seconds, _SECONDS),
    "LOG_LEVEL": Var("log_level", _one_of(LOG_LEVELS), ", ".join(LOG_LEVELS)),
    "RUNPOD_LOG_LEVEL": Var(
        "runpod_log_level",
        _one_of(RUNPOD_LOG_LEVELS),
        ", ".join(RUNPOD_LOG_LEVELS) + " (the runpod SDK's levels)",
    ),
    "WORKER_START_GATE": Var("start_gate", str, "a file path (start.sh sets it)"),
    "BUCKET_ENDPOINT_URL": Var(None, _url, "an http:// or https:// URL of an S3-compatible API"),
    "BUCKET_ACCESS_KEY_ID": Var(None, str, "any text"),
    "BUCKET_SECRET_ACCESS_KEY": Var(None, str, "any text"),
    "BUCKET_NAME": Var(None, str, "any text"),
    "BUCKET_URL_EXPIRY": Var(
        None,
        _whole(1, MAX_URL_EXPIRY),
        f"a whole number of seconds from 1 to {MAX_URL_EXPIRY} (7 days, the longest an S3 "
        "presigned URL lasts)",
    ),
}


def read_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """The variables that are set (blank counts as unset), parsed."""
    values, problems = {}, []
    for name, var in VARIABLES.items():
        raw = environ.get(name, "").strip()
        if not raw:
            continue
        try:
            values[name] = var.parse(raw)
        except ValueError:
            shown = raw if len(raw) <= 60 else raw[:57] + "..."
            problems.append(f"{name}={shown}: allowed: {var.allowed}")
    if problems:
        raise ConfigError("; ".join(problems))
    return values


@dataclass(frozen=True)
class Bucket:
    """The S3-compatible bucket that output: 'url' uploads to."""

    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    name: str
    url_expiry: int = MAX_URL_EXPIRY


def _bucket(values: Mapping[str, Any]) -> tuple[Bucket | None, str | None]:
    """The bucket, or why some BUCKET_ variables are set and still no upload can work."""
    given = [name for name in BUCKET_VARS if name in values]
    if not given:
        return None, None
    missing = [name for name in BUCKET_VARS if name not in values]
    if missing:
        return None, (
            f"bucket upload is half configured: {_are(given)} set but {_are(missing)} not "
            "(set all four, or none)"
        )
    expiry = values.get("BUCKET_URL_EXPIRY", MAX_URL_EXPIRY)
    return Bucket(*(values[name] for name in BUCKET_VARS), url_expiry=expiry), None


def _are(names: list[str]) -> str:
    return ", ".join(names) + (" are" if len(names) > 1 else " is")


@dataclass(frozen=True)
class Settings:
    """Everything the worker can be told from outside (VARIABLES maps each variable here)."""

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
    log_level: str = "INFO"
    runpod_log_level: str = "INFO"
    bucket: Bucket | None = None
    # Set when some BUCKET_ variables are given but not all: uploads are refused with it.
    bucket_problem: str | None = None
    # start.sh's go-ahead file: jobs are taken only once it says `open` (sdworker.start_gate).
    start_gate: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        values = read_env(os.environ if environ is None else environ)
        fields = {
            VARIABLES[name].field: value
            for name, value in values.items()
            if VARIABLES[name].field is not None
        }
        bucket, problem = _bucket(values)
        return cls(**fields, bucket=bucket, bucket_problem=problem)

    def summary(self) -> str:
        """One line for the start-up log (no secrets)."""
        bucket = (
            f"uploads to '{self.bucket.name}' at {self.bucket.endpoint_url}"
            if self.bucket
            else "no bucket (output: 'url' refused)"
        )
        return (
            f"A1111 at {self.webui_url}; JOB_TIMEOUT {self.job_timeout:g} s; MAX_DIMENSION "
            f"{self.max_dimension}; MAX_RESULT_BYTES {self.max_result_bytes}; {bucket}"
        )


# Two switches of the runpod SDK, which reads them itself at each use: read the same way here.


def on_runpod() -> bool:
    """RunPod sets RUNPOD_WEBHOOK_GET_JOB; the SDK is in production mode with it."""
    return bool(os.environ.get("RUNPOD_WEBHOOK_GET_JOB"))


def private_urls_allowed() -> bool:
    """RUNPOD_ALLOW_PRIVATE_DOWNLOAD_URLS, as the SDK's download guard (rp_ssrf) reads it."""
    value = os.environ.get("RUNPOD_ALLOW_PRIVATE_DOWNLOAD_URLS", "")
    return value.strip().lower() in ("1", "true", "yes")


def hf_home() -> str:
    """HF_HOME, the Hugging Face cache A1111 reads offline and the worker looks into (start.sh
    starts both with the same environment); the library's default without it."""
    default = os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return os.environ.get("HF_HOME") or default
