"""The A1111 HTTP client: one pooled session, safe retries, per-call timeouts, error mapping."""

from __future__ import annotations

import logging
import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .config import Settings
from .errors import EngineError, JobError

log = logging.getLogger(__name__)

# Texts in A1111's 500 answers after which the CUDA context cannot be trusted again.
_BROKEN_ENGINE_MARKERS = (
    "CUDA error",
    "device-side assert",
    "CUBLAS_STATUS",
    "cuDNN error",
    "NVML",
    "illegal memory access",
)


def _retry_policy() -> Retry:
    # Connection errors happen before a request reaches A1111, so they are retried for any
    # method. Read errors and 5xx answers are retried for GET only: a generation POST that
    # may have started is never sent twice.
    return Retry(
        total=4,
        connect=3,
        read=2,
        status=2,
        backoff_factor=0.2,
        status_forcelist=(502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        raise_on_status=False,
        respect_retry_after_header=False,
    )


def _session(retry: Retry | int) -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry, pool_connections=1, pool_maxsize=16)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class A1111Client:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.base_url = settings.webui_url
        self._session = _session(_retry_policy())
        self._probe = _session(0)

    def get(self, route: str, *, timeout: float | None = None) -> Any:
        return self._request("GET", route, None, timeout or self.settings.read_timeout)

    def post(self, route: str, payload: Any = None, *, timeout: float | None = None) -> Any:
        return self._request("POST", route, payload, timeout or self.settings.read_timeout)

    def interrupt(self) -> bool:
        """Ask A1111 to stop the current generation; True if it answered at all.

        Sent once: a retry could stop the next job. A1111 answers an interrupt from its own
        thread even mid-generation, so no answer means the process is frozen or gone.
        """
        try:
            self._probe.post(self.base_url + "/sdapi/v1/interrupt", timeout=(1.0, 5.0))
        except requests.RequestException:
            return False
        return True

    def progress(self, with_image: bool) -> dict | None:
        """A1111's progress, or None when it cannot say right now (never raises)."""
        query = "" if with_image else "?skip_current_image=true"
        try:
            resp = self._probe.get(self.base_url + "/sdapi/v1/progress" + query, timeout=(0.5, 2.0))
            return resp.json() if resp.status_code == 200 else None
        except (requests.RequestException, ValueError):
            return None

    def is_answering(self) -> bool:
        # /progress is A1111's cheapest answer (there is no /internal/ping with --nowebui).
        return self.progress(with_image=False) is not None

    def wait_ready(self, timeout: float) -> bool:
        """Poll until A1111 answers, at most every `ready_poll_interval` seconds."""
        interval = self.settings.ready_poll_interval
        deadline = time.monotonic() + timeout
        while True:
            started = time.monotonic()
            if self.is_answering():
                return True
            if started >= deadline:
                return False
            now = time.monotonic()
            time.sleep(max(0.0, min(started + interval, deadline) - now))

    def _request(self, method: str, route: str, payload: Any, read_timeout: float) -> Any:
        url = self.base_url + route
        timeout = (self.settings.connect_timeout, read_timeout)
        try:
            resp = self._session.request(method, url, json=payload, timeout=timeout)
        except requests.ConnectTimeout as exc:
            raise EngineError(
                f"A1111 at {self.base_url} is unreachable: connect timed out"
            ) from exc
        except requests.Timeout as exc:
            raise EngineError(
                f"A1111 did not answer {method} {route} within {read_timeout:g} s"
            ) from exc
        except requests.ConnectionError as exc:
            raise EngineError(
                f"A1111 at {self.base_url} is unreachable or dropped the connection "
                f"during {method} {route}: {_reason(exc)}"
            ) from exc
        if resp.status_code == 200:
            return _json_body(resp, route)
        raise error_from_response(resp.status_code, _json_or_text(resp), route)


def _reason(exc: Exception) -> str:
    # requests nests urllib3's reason several levels deep; the innermost is the readable one.
    inner: BaseException = exc
    while inner.__context__ is not None and inner.__context__ is not inner:
        inner = inner.__context__
    text = str(inner) or type(inner).__name__
    return text[:200]


def _json_body(resp: requests.Response, route: str) -> Any:
    try:
        return resp.json()
    except ValueError as exc:
        raise EngineError(f"A1111 answered {route} with a body that is not JSON") from exc


def _json_or_text(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return resp.text[:500]


def error_from_response(status: int, body: Any, route: str) -> JobError:
    """Turn one of A1111's three error shapes into a one-sentence error of the right kind."""
    if isinstance(body, dict) and isinstance(body.get("detail"), list):
        return JobError(
            f"A1111 rejected the request to {route}: {_validation_text(body['detail'])}"
        )
    if isinstance(body, dict) and "error" in body:
        reason = " ".join(str(body.get(k) or "") for k in ("detail", "errors")).strip()
        message = f"A1111 failed on {route} ({status} {body['error']})" + (
            f": {reason}" if reason else ""
        )
        if status >= 500 and any(marker in reason for marker in _BROKEN_ENGINE_MARKERS):
            return EngineError(message, status)
        return JobError(message, status)
    if status in (404, 405) and isinstance(body, dict):
        return JobError(f"A1111 has no {route} route ({status} {body.get('detail')})")
    if status >= 500:
        return EngineError(f"A1111 answered {route} with HTTP {status}: {str(body)[:200]}")
    return JobError(f"A1111 answered {route} with HTTP {status}: {str(body)[:200]}")


def _validation_text(items: list) -> str:
    parts = []
    for item in items[:5]:
        if not isinstance(item, dict):
            continue
        loc = [str(x) for x in item.get("loc", []) if x != "body"]
        where = ".".join(loc) or "body"
        parts.append(f"{where}: {item.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"
