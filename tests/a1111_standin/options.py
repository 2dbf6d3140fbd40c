"""The settings A1111 keeps in `shared.opts`: a realistic subset of v1.9.3's options with their
real defaults and OpenAPI types, and the in-memory store behind GET/POST /sdapi/v1/options.
"""

from __future__ import annotations

import copy
import json
import os
import threading
from pathlib import Path
from typing import Any

from . import schema

# (name, OpenAPI type or None for untyped, default), as A1111 lists them: every option of
# v1.9.3, from its OpenAPI document (`python -m tests.a1111_standin.options` rewrites the file
# from SHARED_DIR's openapi.json).
OPTIONS_FILE = Path(__file__).with_name("options_v1_9_3.json")
OPTIONS: tuple[tuple[str, str | None, Any], ...] = tuple(
    (name, typ, default) for name, typ, default in json.loads(OPTIONS_FILE.read_text())
)
OPTION_TYPES: dict[str, str | None] = {name: typ for name, typ, _ in OPTIONS}
OPTION_DEFAULTS: dict[str, Any] = {name: default for name, _, default in OPTIONS}

# Options the API may not change (opts.set(..., is_api=True) quietly refuses them).
RESTRICT_API = frozenset({"api_enable_requests", "api_forbid_local_requests", "api_useragent"})
# Options `override_settings` may not touch (dropped without a word).
RESTRICTED_OPTS = frozenset(
    {
        "samples_filename_pattern",
        "directories_filename_pattern",
        "outdir_samples",
        "outdir_txt2img_samples",
        "outdir_img2img_samples",
        "outdir_extras_samples",
        "outdir_grids",
        "outdir_txt2img_grids",
        "outdir_save",
        "outdir_init_images",
        "temp_dir",
        "clean_temp_dir_at_start",
    }
)

# Options a script registers when A1111 loads its scripts, after `shared.opts` was made from
# the options known then: they are not in `shared.opts.data`, which is what GET lists, until
# set (seen on the real engine with the two extensions installed, from a fresh config).
SCRIPT_OPTIONS = frozenset({"enable_prompt_comments"})

_MISSING = object()


class OptionsResponseError(Exception):
    """GET /sdapi/v1/options could not build its response model (a stored value of the wrong
    type): FastAPI raises pydantic's ValidationError, which A1111 turns into a 500."""


def _response_value(name: str, value: Any) -> Any:
    typ = OPTION_TYPES[name]
    if value is None or typ is None:
        return value
    try:
        if typ == "number":
            return schema.coerce_float(value)
        if typ == "string":
            return schema.coerce_str(value)
        if typ == "boolean":
            return schema.coerce_bool(value)
        if typ == "array":
            if not isinstance(value, list):
                raise schema._Invalid("value is not a valid list", "type_error.list")
            return value
    except schema._Invalid as exc:
        raise OptionsResponseError(
            f"1 validation error for Options\nresponse -> {name}\n  {exc.msg} (type={exc.typ})"
        ) from None
    return value


class OptionStore:
    """`shared.opts.data`: only keys that were ever set are stored; the others read as their
    default. GET validates stored values against the response model (so a stored 2 reads back
    as 2.0 for a "number" option) but leaves untouched defaults as they are."""

    def __init__(self, initial: dict[str, Any]):
        self._initial = dict(initial)
        self._data: dict[str, Any] = dict(initial)
        self.lock = threading.RLock()

    def reset(self) -> None:
        with self.lock:
            self._data = dict(self._initial)

    def get(self, name: str) -> Any:
        with self.lock:
            if name in self._data:
                return self._data[name]
            return copy.deepcopy(OPTION_DEFAULTS.get(name))

    def is_pristine(self) -> bool:
        with self.lock:
            return self._data == self._initial

    def is_set(self, name: str) -> bool:
        with self.lock:
            return name in self._data

    def raw(self, name: str) -> Any:
        """The stored value, or _MISSING."""
        with self.lock:
            return self._data.get(name, _MISSING)

    def set(self, name: str, value: Any, is_api: bool = True) -> bool:
        """A1111's opts.set: no-op when equal; KeyError for unknown names; stored unchecked."""
        with self.lock:
            if self._data.get(name) == value:
                return False
            if name not in OPTION_TYPES:
                raise KeyError(name)
            if is_api and name in RESTRICT_API:
                return False
            self._data[name] = value
            return True

    def put_back(self, name: str, stored: Any) -> None:
        """Restore a value captured with raw()."""
        with self.lock:
            if stored is _MISSING:
                self._data.pop(name, None)
            else:
                self._data[name] = stored

    def response(self) -> dict:
        with self.lock:
            out = {}
            for name, _typ, default in OPTIONS:
                if name in SCRIPT_OPTIONS and name not in self._data:
                    continue
                if name in self._data:
                    out[name] = _response_value(name, self._data[name])
                else:
                    out[name] = copy.deepcopy(default)
            return out


def write_options_file(openapi: Path) -> None:
    properties = json.loads(openapi.read_text())["components"]["schemas"]["Options"]["properties"]
    rows = [json.dumps([name, p.get("type"), p.get("default")]) for name, p in properties.items()]
    OPTIONS_FILE.write_text("[\n" + ",\n".join(rows) + "\n]\n")


if __name__ == "__main__":
    shared = Path(os.environ.get("SHARED_DIR") or Path(__file__).parents[3] / "shared")
    write_options_file(shared / "a1111" / "openapi.json")
    print(f"wrote {OPTIONS_FILE}")
