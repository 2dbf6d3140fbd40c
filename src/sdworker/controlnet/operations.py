"""ControlNet's operations and its part of txt2img/img2img: units checked and their image URLs
fetched before the call, detected maps taken out of the generated images after it."""

from __future__ import annotations

from typing import Any

from ..images import fetch_as_base64, is_url
from . import catalog as lists
from .checks import check_detect, check_units, controlnet_key
from .units import DetectInput


def limits(ctx) -> dict:
    settings = ctx.settings
    return {
        "max_dimension": settings.max_dimension,
        "max_image_bytes": settings.max_image_bytes,
        "job_timeout": settings.job_timeout,
    }


def prepare_generation(ctx, payload: dict, kind: str) -> bool:
    """Check the job's ControlNet units; return whether the job has any."""
    check_units(payload, ctx.catalog, kind, limits(ctx))
    key = controlnet_key(payload)
    if key is None:
        return False
    for i, raw in enumerate(payload["alwayson_scripts"][key]["args"]):
        _fetch_unit_images(ctx, f"alwayson_scripts.{key}.args[{i}]", raw)
    return True


def _fetch_unit_images(ctx, where: str, unit: dict) -> None:
    for name in ("image", "mask", "effective_region_mask"):
        value = unit.get(name)
        if isinstance(value, dict):
            _fetch_unit_images(ctx, f"{where}.{name}", value)
        elif isinstance(value, str) and is_url(value):
            unit[name] = _fetch(ctx, f"{where}.{name}", value)


def _fetch(ctx, field: str, url: str) -> str:
    settings = ctx.settings
    return fetch_as_base64(field, url, settings.max_image_bytes, settings.image_url_timeout)


def separate_maps(result: dict, with_controlnet: bool) -> dict:
    """The extension appends its detected maps to the generated images; A1111 writes one
    infotext per generated image (and grid), so whatever comes after those is a map."""
    info = result.get("info")
    infotexts = info.get("infotexts") if isinstance(info, dict) else None
    if not with_controlnet or not isinstance(infotexts, list):
        return result
    images = result.get("images") or []
    return {
        **result,
        "images": images[: len(infotexts)],
        "controlnet_maps": images[len(infotexts) :],
    }


def get_models(ctx, _call) -> dict:
    return {"model_list": lists.models(ctx.catalog, refresh=True)}


def get_modules(ctx, _call) -> dict:
    return lists.fetch(ctx.catalog, "/controlnet/module_list")


def get_types(ctx, _call) -> Any:
    return lists.fetch(ctx.catalog, "/controlnet/control_types")


def detect(ctx, call) -> dict:
    args = DetectInput.model_validate(call.payload, context=limits(ctx))
    payload = dict(call.payload)
    payload["controlnet_module"] = check_detect(args, ctx.catalog)
    for field in ("controlnet_input_images", "controlnet_masks"):
        if payload.get(field):
            payload[field] = [
                _fetch(ctx, f"{field}.{i}", v) if is_url(v) else v
                for i, v in enumerate(payload[field])
            ]
    return ctx.client.post("/controlnet/detect", payload, timeout=call.timeout)
