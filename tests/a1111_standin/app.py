"""The stand-in application: the emulated A1111 install (options, job state, loaded models,
queue lock) and request dispatch to A1111's routes or the control API. No HTTP here: see
server.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from . import catalog, control, schema
from .errors import A1111Error, error_body, from_exception, http_exception
from .messages import Request, Response, json_response
from .options import OptionsResponseError, OptionStore
from .routes import ROUTES
from .state import Config, FaultBook, JobState, Stats

CONTROL_PREFIX = control.PREFIX


class App:
    def __init__(self, config: Config, host: str = "127.0.0.1", port: int = 7860):
        self.host, self.port = host, port
        self.started = time.monotonic()
        self.cli_config = config.copy()
        self.config = config.copy()
        self.model_ready_at = self.started + config.model_load_seconds
        self.loaded_model = config.models[0]
        self.options = OptionStore(
            {"sd_model_checkpoint": config.models[0], "sd_checkpoint_hash": None}
        )
        self.state = JobState()
        self.stats = Stats()
        self.faults = FaultBook()
        self.queue_lock = threading.Lock()
        self.model_lock = threading.Lock()
        self.epoch = 0  # bumped by reset: a generation from before a reset stops early

    def is_pristine(self) -> bool:
        """As at start-up with default settings: what the real engine is when replayed to."""
        return (
            self.config == Config() and self.cli_config == Config() and self.options.is_pristine()
        )

    # --- models --------------------------------------------------------------------------
    def checkpoint_aliases(self) -> dict[str, str]:
        aliases: dict[str, str] = {}
        for title in self.config.models:
            aliases[title] = title
            aliases[catalog.model_name_of(title)] = title
        return aliases

    def checkpoint_title(self, name: Any) -> str | None:
        if not isinstance(name, str):
            return None
        return self.checkpoint_aliases().get(name)

    def closest_checkpoint(self, name: Any) -> str | None:
        """get_closet_checkpoint_match: an alias, else the shortest title containing it."""
        if not isinstance(name, str):
            return None
        exact = self.checkpoint_title(name)
        if exact is not None:
            return exact
        found = sorted((t for t in self.config.models if name in t), key=len)
        return found[0] if found else None

    def wait_model_loaded(self) -> None:
        """The checkpoint loads in the background after start; `shared.sd_model` waits for it."""
        while True:
            left = self.model_ready_at - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.05))

    def load_selected_model(self) -> None:
        """reload_model_weights(): switch to the checkpoint opts.sd_model_checkpoint names."""
        with self.model_lock:
            wanted = self.checkpoint_title(self.options.get("sd_model_checkpoint"))
            if wanted is None or wanted == self.loaded_model:
                return
            if self.config.model_switch_seconds > 0:
                time.sleep(self.config.model_switch_seconds)
            self.loaded_model = wanted
            self.options.set("sd_model_checkpoint", wanted, is_api=False)

    def vae_name(self) -> str | None:
        vae = self.options.get("sd_vae")
        if isinstance(vae, str) and vae in self.config.vaes:
            return vae
        return None

    def forbid_local(self) -> bool:
        return bool(self.options.get("api_forbid_local_requests"))

    @contextmanager
    def generation_slot(self) -> Iterator[None]:
        with self.queue_lock:
            self.stats.generation_started()
            try:
                yield
            finally:
                self.stats.generation_finished()

    # --- control -------------------------------------------------------------------------
    def reset(self) -> None:
        self.epoch += 1
        self.config = self.cli_config.copy()
        self.options.reset()
        self.faults.clear()
        self.stats.reset()
        self.state.reset()
        with self.model_lock:
            self.loaded_model = self.config.models[0]

    # --- dispatch ------------------------------------------------------------------------
    def dispatch(self, req: Request) -> Response:
        if req.path.startswith(CONTROL_PREFIX) or req.path + "/" == CONTROL_PREFIX:
            return control.handle(self, req)
        if self.config.fail_status and req.path.startswith("/sdapi/"):
            status = self.config.fail_status
            return json_response(status, error_body(status, f"stand-in: failing with {status}"))
        fixed = self.config.fixed_response.get(req.path)
        if fixed is not None:
            return Response(200, fixed.json, {"content-type": "application/json"}, fixed.gzipped)
        methods = ROUTES.get(req.path)
        if req.path.startswith("/controlnet/") and not self.config.controlnet:
            methods = None  # the extension is not installed
        if methods is None:
            base = req.path.rstrip("/")
            if base != req.path and base in ROUTES:
                host = req.headers.get("host") or f"{self.host}:{self.port}"
                query = "&".join(f"{k}={v}" for k, vs in req.query.items() for v in vs)
                location = f"http://{host}{base}" + (f"?{query}" if query else "")
                return Response(307, b"", {"location": location})
            return json_response(404, {"detail": "Not Found"})
        handler = methods.get(req.method)
        if handler is None and req.method == "HEAD":
            handler = methods.get("GET")
        if handler is None:
            allow = ", ".join(sorted({*methods, *(["HEAD"] if "GET" in methods else [])}))
            return json_response(405, {"detail": "Method Not Allowed"}, {"allow": allow})
        try:
            return json_response(200, handler(self, req))
        except schema.RequestValidationError as exc:
            return json_response(422, {"detail": exc.errors})
        except schema.BodyParseError:
            err = http_exception(400, "There was an error parsing the body")
            return json_response(400, err.body())
        except OptionsResponseError as exc:
            return json_response(500, A1111Error("ValidationError", str(exc)).body())
        except A1111Error as exc:
            return json_response(exc.status, exc.body())
        except Exception as exc:  # what A1111's middleware does with any other exception
            return json_response(500, from_exception(exc).body())
