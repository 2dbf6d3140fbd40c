"""The stand-in's own control API under /__standin__/ (never used by real clients):
faults, config, stats, state and reset."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from .messages import Request, Response, json_response
from .state import parse_fault

if TYPE_CHECKING:
    from .app import App

PREFIX = "/__standin__/"

CONTROL_METHODS = {
    "faults": ("GET", "POST", "DELETE"),
    "config": ("GET", "POST"),
    "stats": ("GET",),
    "state": ("GET",),
    "reset": ("POST",),
}


def handle(app: App, req: Request) -> Response:
    name = req.path[len(PREFIX) :].strip("/")
    allowed = CONTROL_METHODS.get(name)
    if allowed is None:
        return json_response(404, {"detail": "Not Found"})
    if req.method not in allowed:
        return json_response(405, {"detail": "Method Not Allowed"})
    body: Any = None
    if req.body:
        try:
            body = json.loads(req.body)
        except ValueError as exc:
            return json_response(400, {"detail": f"invalid JSON: {exc}"})
    if name == "faults":
        if req.method == "GET":
            return json_response(200, {"faults": app.faults.as_list()})
        if req.method == "DELETE":
            app.faults.clear()
            return json_response(200, {"faults": []})
        try:
            app.faults.add(parse_fault(body))
        except ValueError as exc:
            return json_response(400, {"detail": str(exc)})
        return json_response(200, {"faults": app.faults.as_list()})
    if name == "config":
        if req.method == "POST":
            problems = app.config.update(body if body is not None else {})
            if problems:
                return json_response(400, {"detail": "; ".join(problems)})
            if body and "model_load_seconds" in body:
                app.model_ready_at = time.monotonic() + app.config.model_load_seconds
        return json_response(200, app.config.to_dict())
    if name == "stats":
        return json_response(200, app.stats.as_dict())
    if name == "state":
        with app.state.lock:
            job = app.state.as_dict()
        return json_response(
            200,
            {
                "model_loaded": time.monotonic() >= app.model_ready_at,
                "loaded_model": app.loaded_model,
                "job": job,
                "uptime": time.monotonic() - app.started,
            },
        )
    # reset
    app.reset()
    return json_response(200, {"reset": True})
