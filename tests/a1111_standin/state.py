"""Run-time state: A1111's job state (what /sdapi/v1/progress reports), the stand-in's
configuration, injected faults and request statistics."""

from __future__ import annotations

import copy
import fnmatch
import gzip
import json
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from . import catalog

# --- A1111's shared.state ---------------------------------------------------------------------


class JobState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._reset_fields()

    def _reset_fields(self) -> None:
        self.skipped = False
        self.interrupted = False
        self.stopping_generation = False
        self.job = ""
        self.job_count = 0
        self.job_timestamp = "0"
        self.job_no = 0
        self.sampling_step = 0
        self.sampling_steps = 0
        self.time_start: float | None = None
        self.textinfo: str | None = None
        self.current_image: str | None = None  # base64 PNG
        self.current_image_sampling_step = 0
        self.preview: Callable[[float], str] | None = None  # makes a live preview

    def reset(self) -> None:
        with self.lock:
            self._reset_fields()

    def begin(self, job: str) -> None:
        with self.lock:
            self.sampling_step = 0
            self.job_count = -1
            self.job_no = 0
            self.job_timestamp = datetime.now().strftime("%Y%m%d%H%M%S")
            self.current_image = None
            self.current_image_sampling_step = 0
            self.preview = None
            self.skipped = False
            self.interrupted = False
            self.stopping_generation = False
            self.textinfo = None
            self.job = job
            self.time_start = time.time()

    def end(self) -> None:
        with self.lock:
            self.job = ""
            self.job_count = 0
            self.preview = None

    def nextjob(self) -> None:
        with self.lock:
            self.job_no += 1
            self.sampling_step = 0
            self.current_image_sampling_step = 0

    def interrupt(self) -> None:
        with self.lock:
            self.interrupted = True

    def skip(self) -> None:
        with self.lock:
            self.skipped = True

    def as_dict(self) -> dict:
        return {
            "skipped": self.skipped,
            "interrupted": self.interrupted,
            "stopping_generation": self.stopping_generation,
            "job": self.job,
            "job_count": self.job_count,
            "job_timestamp": self.job_timestamp,
            "job_no": self.job_no,
            "sampling_step": self.sampling_step,
            "sampling_steps": self.sampling_steps,
        }

    def progress(self, skip_current_image: bool, every_n_steps: Any, previews: Any) -> dict:
        """The body of GET /sdapi/v1/progress, computed as A1111's progressapi does."""
        with self.lock:
            if self.job_count == 0:
                return {
                    "progress": 0.0,
                    "eta_relative": 0.0,
                    "state": self.as_dict(),
                    "current_image": None,
                    "textinfo": self.textinfo,
                }
            progress = 0.01
            if self.job_count > 0:
                progress += self.job_no / self.job_count
            if self.sampling_steps > 0 and self.job_count != 0:
                progress += 1 / self.job_count * self.sampling_step / self.sampling_steps
            since = time.time() - (self.time_start or time.time())
            eta_relative = since / progress - since
            progress = min(progress, 1)
            preview = self.preview
            due = (
                isinstance(every_n_steps, (int, float))
                and every_n_steps > 0
                and previews
                and self.sampling_step - self.current_image_sampling_step >= every_n_steps
            )
            step, steps = self.sampling_step, self.sampling_steps
            body_state = self.as_dict()
            textinfo = self.textinfo
        if due and preview is not None:
            image = preview(step / steps if steps else 1.0)
            with self.lock:
                self.current_image = image
                self.current_image_sampling_step = step
        with self.lock:
            current = None if skip_current_image else self.current_image
        return {
            "progress": progress,
            "eta_relative": eta_relative,
            "state": body_state,
            "current_image": current,
            "textinfo": textinfo,
        }


# --- configuration ---------------------------------------------------------------------------

MAX_FIXED_ROUTES = 50


class FixedBody:
    """A fixed answer (config `fixed_response`): rendered to JSON and gzipped once, when set,
    so that serving it costs the stand-in nothing but the copy to the socket."""

    def __init__(self, value: Any) -> None:
        # Starlette's JSONResponse.render, as in messages.render_json
        self.json = json.dumps(
            value, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
        ).encode("utf-8")
        self.gzipped = gzip.compress(self.json, compresslevel=1)  # as server.py compresses

    def __deepcopy__(self, memo: dict) -> FixedBody:
        return self  # immutable: configs share it

    def summary(self) -> str:
        return f"<fixed JSON answer: {len(self.json)} bytes>"


@dataclass
class Config:
    generation_seconds: float = 0.0
    # Before the sampler starts (prompt conditioning): A1111's progress then still shows the
    # previous job's sampling_steps.
    prepare_seconds: float = 0.0
    model_load_seconds: float = 0.0
    model_switch_seconds: float = 0.0
    fail_status: int | None = None
    hang: bool = False
    loras: list[str] = field(default_factory=lambda: list(catalog.DEFAULT_LORAS))
    models: list[str] = field(default_factory=lambda: list(catalog.DEFAULT_MODELS))
    vaes: list[str] = field(default_factory=lambda: list(catalog.DEFAULT_VAES))
    embeddings: list[str] = field(default_factory=list)
    # The ControlNet extension: installed or not, and the models in its folders.
    controlnet: bool = True
    controlnet_models: list[str] = field(
        default_factory=lambda: list(catalog.DEFAULT_CONTROLNET_MODELS)
    )
    # route -> the answer every request to it gets at once (200, JSON), whatever was sent:
    # no validation, no generation, no queue. For benchmarks of what the client costs.
    fixed_response: dict[str, FixedBody] = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["fixed_response"] = {k: v.summary() for k, v in self.fixed_response.items()}
        return out

    def copy(self) -> Config:
        return copy.deepcopy(self)

    def update(self, changes: Any) -> list[str]:
        """Apply a /__standin__/config body; returns a list of problems (nothing applied then)."""
        if not isinstance(changes, dict):
            return ["body must be a JSON object"]
        problems = []
        new = self.copy()
        for key, value in changes.items():
            if key in (
                "generation_seconds",
                "prepare_seconds",
                "model_load_seconds",
                "model_switch_seconds",
            ):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    problems.append(f"{key} must be a number >= 0")
                    continue
                setattr(new, key, float(value))
            elif key == "fail_status":
                if value is not None and (
                    isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599
                ):
                    problems.append("fail_status must be an HTTP status code or null")
                    continue
                new.fail_status = value
            elif key == "hang":
                if not isinstance(value, bool):
                    problems.append("hang must be true or false")
                    continue
                new.hang = value
            elif key == "controlnet":
                if not isinstance(value, bool):
                    problems.append("controlnet must be true or false")
                    continue
                new.controlnet = value
            elif key in ("loras", "models", "vaes", "embeddings", "controlnet_models"):
                if not isinstance(value, list) or not all(
                    isinstance(v, str) and v and len(v) < 200 for v in value
                ):
                    problems.append(f"{key} must be a list of non-empty strings")
                    continue
                if key == "models" and not value:
                    problems.append("models must not be empty")
                    continue
                setattr(new, key, list(dict.fromkeys(value))[:500])
            elif key == "fixed_response":
                try:
                    new.fixed_response = _fixed_responses(value)
                except ValueError as exc:
                    problems.append(f"fixed_response: {exc}")
            else:
                problems.append(f"unknown config key {key!r}")
        if not problems:
            self.__dict__.update(new.__dict__)
        return problems


def _fixed_responses(value: Any) -> dict[str, FixedBody]:
    if not isinstance(value, dict):
        raise ValueError("must be an object {route: JSON answer} ({} for none)")
    if len(value) > MAX_FIXED_ROUTES:
        raise ValueError(f"at most {MAX_FIXED_ROUTES} routes")
    for route in value:
        if not route.startswith("/") or route.startswith("/__standin__"):
            raise ValueError(f"{route!r} is not an A1111 route like /sdapi/v1/txt2img")
    return {route: FixedBody(body) for route, body in value.items()}


# --- injected faults -------------------------------------------------------------------------

FAULT_MODES = ("status", "hang", "close", "delay")
MAX_FAULTS = 1000


@dataclass
class Fault:
    route: str
    mode: str
    status: int = 500
    body: Any = None
    seconds: float = 0.0
    times: int | None = None
    method: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method != method:
            return False
        return self.route == path or fnmatch.fnmatchcase(path, self.route)


def parse_fault(spec: Any) -> Fault:
    if not isinstance(spec, dict):
        raise ValueError("body must be a JSON object")
    unknown = set(spec) - {"route", "mode", "status", "body", "seconds", "times", "method"}
    if unknown:
        raise ValueError(f"unknown fault keys: {sorted(unknown)}")
    route = spec.get("route")
    if not isinstance(route, str) or not route:
        raise ValueError("route must be a path like /sdapi/v1/txt2img (glob patterns allowed)")
    mode = spec.get("mode")
    if mode not in FAULT_MODES:
        raise ValueError(f"mode must be one of {list(FAULT_MODES)}")
    status = spec.get("status", 500)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError("status must be an HTTP status code")
    seconds = spec.get("seconds", 1.0 if mode == "delay" else 0.0)
    if seconds is None:
        seconds = 0.0
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds >= 0:
        raise ValueError("seconds must be a number >= 0")
    times = spec.get("times")
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise ValueError("times must be an integer >= 1 (omit it for every time)")
    method = spec.get("method")
    if method is not None and not isinstance(method, str):
        raise ValueError("method must be a string")
    return Fault(
        route=route,
        mode=mode,
        status=status,
        body=spec.get("body"),
        seconds=float(seconds),
        times=times,
        method=method.upper() if method else None,
    )


class FaultBook:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.faults: list[Fault] = []
        self.release = threading.Event()  # set to let hung connections go

    def add(self, fault: Fault) -> None:
        with self.lock:
            if len(self.faults) >= MAX_FAULTS:
                raise ValueError(f"too many queued faults (max {MAX_FAULTS})")
            self.faults.append(fault)

    def take(self, method: str, path: str) -> Fault | None:
        """The first queued fault for this request (consuming one of its `times`)."""
        with self.lock:
            for i, fault in enumerate(self.faults):
                if fault.matches(method, path):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            del self.faults[i]
                    return fault
        return None

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()
            old = self.release
            self.release = threading.Event()
        old.set()

    def as_list(self) -> list[dict]:
        with self.lock:
            return [asdict(f) for f in self.faults]


# --- statistics ------------------------------------------------------------------------------


def _short(value: Any, depth: int = 0) -> Any:
    """A copy of a request body with long strings (base64 images) cut."""
    if depth > 6:
        return "..."
    if isinstance(value, str):
        return value if len(value) <= 200 else value[:60] + f"...<{len(value)} chars>"
    if isinstance(value, dict):
        return {str(k): _short(v, depth + 1) for k, v in list(value.items())[:200]}
    if isinstance(value, list):
        return [_short(v, depth + 1) for v in value[:50]]
    return value


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.counts: Counter[str] = Counter()
        self.requests: deque[dict] = deque(maxlen=1000)
        self.payloads: deque[dict] = deque(maxlen=100)
        self.generations = 0
        self.interrupts = 0
        self.current_generations = 0
        self.max_concurrent_generations = 0
        self.force_task_ids: deque[str] = deque(maxlen=1000)

    def request(self, method: str, path: str) -> None:
        with self.lock:
            self.counts[f"{method} {path}"] += 1
            self.requests.append({"method": method, "path": path, "t": time.time()})

    def payload(self, method: str, path: str, body: Any) -> None:
        with self.lock:
            self.payloads.append({"method": method, "path": path, "body": _short(body)})

    def generation_started(self) -> None:
        with self.lock:
            self.generations += 1
            self.current_generations += 1
            self.max_concurrent_generations = max(
                self.max_concurrent_generations, self.current_generations
            )

    def generation_finished(self) -> None:
        with self.lock:
            self.current_generations -= 1

    def interrupted(self) -> None:
        with self.lock:
            self.interrupts += 1

    def task_id(self, task_id: str) -> None:
        with self.lock:
            self.force_task_ids.append(task_id)

    def as_dict(self) -> dict:
        with self.lock:
            return {
                "counts": dict(self.counts),
                "requests": list(self.requests),
                "generations": self.generations,
                "interrupts": self.interrupts,
                "max_concurrent_generations": self.max_concurrent_generations,
                "force_task_ids": list(self.force_task_ids),
                "payloads": list(self.payloads),
            }
