"""ADetailer (Bing-su/adetailer v25.3.0): its job shape checked before A1111 sees it.

ADetailer answers almost every mistake with HTTP 200 and does nothing: an unknown field or a
value of the wrong type disables it without a word, an unknown model only logs an error, a tab
without `ad_model` is skipped, and a short `args` list (`[{...}]`, `[true, {...}]`) lets a
second tab run with the UI's default model. So the worker accepts one shape only,

    "alwayson_scripts": {"ADetailer": {"args": [enable, skip_img2img, {tab}, ...]}}

and checks every tab against what ADetailer itself publishes: its argument schema
(GET /adetailer/v1/schema) and its model list (GET /adetailer/v1/ad_model, read by ADetailer at
start-up from models/adetailer).
"""

from __future__ import annotations

import difflib
from typing import Any

from .catalog import Catalog, unknown_name
from .checks import (
    SAME_CHECKPOINT,
    SAME_SCHEDULER,
    check_face_restorer,
    check_model,
    check_sampler,
    check_scheduler,
    check_vae,
)
from .errors import JobError

TITLE = "ADetailer"  # A1111 matches alwayson_scripts keys to script titles case-insensitively
SHAPE = '{"args": [true, false, {"ad_model": "face_yolov8n.pt"}]}'
SAME_VAE = "Use same VAE"
# ADetailer's option ad_max_models (its default here): the tabs it has script arguments for.
DEFAULT_MAX_MODELS = 2
# JSON schema type -> the Python values it takes, and how to say it.
_JSON_TYPES = {
    "string": ((str,), "a string"),
    "boolean": ((bool,), "true or false"),
    "integer": ((int,), "a whole number"),
    "number": ((int, float), "a number"),
}


def models(catalog: Catalog) -> list[str]:
    # ADetailer builds its list once, at start-up: it never changes while A1111 runs.
    listed = catalog.cached("adetailer_models", lambda: _get(catalog, "/adetailer/v1/ad_model"))
    return listed["ad_model"]


def schema(catalog: Catalog) -> dict:
    return catalog.cached("adetailer_schema", lambda: _get(catalog, "/adetailer/v1/schema"))


def _get(catalog: Catalog, route: str) -> Any:
    try:
        return catalog.client.get(route)
    except JobError as exc:
        if exc.a1111_status is None and "has no" in exc.message:
            raise JobError(
                f"ADetailer is not installed on this worker (A1111 has no {route})"
            ) from None
        raise


def get_models(ctx, _call) -> dict:
    """The `getAdetailerModels` operation: what `ad_model` may name."""
    return {"ad_model": models(ctx.catalog)}


def script_key(payload: dict) -> str | None:
    scripts = payload.get("alwayson_scripts") or {}
    return next((key for key in scripts if key.lower() == TITLE.lower()), None)


def check(payload: dict, catalog: Catalog) -> None:
    """Refuse an ADetailer request that A1111 would take and then silently not carry out."""
    key = script_key(payload)
    if key is None:
        return
    field = f"alwayson_scripts.{key}"
    args = _args(field, payload["alwayson_scripts"][key])
    tabs = args[2:]
    limit = catalog.options().get("ad_max_models", DEFAULT_MAX_MODELS)
    if len(tabs) > limit:
        raise JobError(
            f"{field}.args: {len(tabs)} tabs, but ADetailer has {limit} on this worker (option "
            f"ad_max_models) and would drop the rest without a word; send at most {limit}"
        )
    for index, tab in enumerate(tabs, start=2):
        _check_tab(f"{field}.args[{index}]", tab, catalog)
    if args[0] and all(_skipped(tab) for tab in tabs):
        raise JobError(
            f"{field}.args: ADetailer is enabled but every tab is skipped (ad_model 'None' or "
            "ad_tab_enable false), so it would do nothing; name an ad_model "
            "(getAdetailerModels) or send enable false"
        )


def _args(field: str, entry: Any) -> list:
    if not isinstance(entry, dict) or set(entry) != {"args"} or not isinstance(entry["args"], list):
        raise JobError(f"{field}: must be {SHAPE} (A1111 reads only a list under 'args')")
    args = entry["args"]
    well_formed = (
        len(args) >= 3
        and all(isinstance(flag, bool) for flag in args[:2])
        and all(isinstance(tab, dict) for tab in args[2:])
    )
    if not well_formed:
        raise JobError(
            f"{field}.args: must be [enable, skip_img2img, {{tab}}, ...]: two booleans, then one "
            f"object per tab, e.g. {SHAPE}. A shorter list shifts the arguments and ADetailer "
            "fills the gaps with its UI defaults (a second tab with the default model runs)"
        )
    return args


def _skipped(tab: dict) -> bool:
    return tab.get("ad_model", "None") == "None" or tab.get("ad_tab_enable") is False


def _check_tab(field: str, tab: dict, catalog: Catalog) -> None:
    properties = schema(catalog).get("properties", {})
    for name, value in tab.items():
        if name not in properties:
            close = difflib.get_close_matches(name, list(properties), n=1, cutoff=0.6)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise JobError(
                f"{field}: unknown ADetailer field '{name}' (ADetailer would switch itself off "
                f"without a word).{hint} Fields: {', '.join(properties)}."
            )
        _check_value(f"{field}.{name}", value, properties[name])
    if "ad_model" not in tab:
        raise JobError(
            f"{field}: no ad_model (ADetailer's default is 'None': the tab would be skipped); "
            f"name one of {', '.join(models(catalog))}"
        )
    if tab["ad_model"] != "None" and tab["ad_model"] not in models(catalog):
        raise unknown_name(f"{field}.ad_model", tab["ad_model"], models(catalog), "ADetailer model")
    _check_names(field, tab, catalog)


def _check_value(field: str, value: Any, rule: dict) -> None:
    kinds, kind = _JSON_TYPES.get(rule.get("type"), ((object,), "any value"))
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        raise JobError(f"{field}: must be {kind} (got {value!r})")
    allowed = rule.get("enum")
    if allowed is not None and value not in allowed:
        raise JobError(f"{field}: must be one of {', '.join(map(str, allowed))} (got {value!r})")
    low, high = rule.get("minimum"), rule.get("maximum")
    above = rule.get("exclusiveMinimum")
    if (
        (low is not None and value < low)
        or (high is not None and value > high)
        or (above is not None and value <= above)
    ):
        bounds = [f">= {low}" if low is not None else "", f"<= {high}" if high is not None else ""]
        bounds.append(f"> {above}" if above is not None else "")
        raise JobError(f"{field}: must be {' and '.join(b for b in bounds if b)} (got {value!r})")


def _check_names(field: str, tab: dict, catalog: Catalog) -> None:
    """The names a tab passes on to A1111 for its inpaint pass, when it uses them."""
    if tab.get("ad_use_sampler"):
        check_sampler(f"{field}.ad_sampler", tab.get("ad_sampler"), catalog)
        scheduler = tab.get("ad_scheduler")
        check_scheduler(f"{field}.ad_scheduler", scheduler, catalog, (SAME_SCHEDULER,))
    if tab.get("ad_use_checkpoint"):
        checkpoint = tab.get("ad_checkpoint")
        check_model(f"{field}.ad_checkpoint", checkpoint, catalog, (SAME_CHECKPOINT, "None"))
    if tab.get("ad_use_vae") and tab.get("ad_vae") not in (SAME_VAE, "None"):
        check_vae(f"{field}.ad_vae", tab.get("ad_vae"), catalog)
    if tab.get("ad_restore_face"):
        model = catalog.options().get("face_restoration_model")
        check_face_restorer(f"{field}.ad_restore_face", model, catalog)
