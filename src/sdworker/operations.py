"""The table of operations: `input.api` name -> input model and what to do with A1111."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .a1111_client import A1111Client
from .catalog import Catalog
from .checks import check_extras, check_generation, check_option_values
from .config import Settings
from .errors import JobError
from .images import fetch_as_base64, is_url
from .inputs import (
    ExtrasInput,
    Img2ImgInput,
    Input,
    InterrogateInput,
    NoInput,
    OptionsInput,
    PngInfoInput,
    Txt2ImgInput,
)
from .outputs import OutputHandler, OutputOptions

IMAGE_FIELDS = ("init_images", "mask", "firstpass_image", "latent_mask", "image")


@dataclass
class Context:
    client: A1111Client
    catalog: Catalog
    settings: Settings
    outputs: OutputHandler

    def resolve_image_urls(self, payload: dict) -> None:
        """Replace image URLs by the downloaded images, as base64 (A1111 takes only that)."""
        limit, timeout = self.settings.max_image_bytes, self.settings.image_url_timeout
        for field in IMAGE_FIELDS:
            value = payload.get(field)
            if isinstance(value, str) and is_url(value):
                payload[field] = fetch_as_base64(field, value, limit, timeout)
            elif isinstance(value, list):
                payload[field] = [
                    fetch_as_base64(f"{field}.{i}", v, limit, timeout) if is_url(v) else v
                    for i, v in enumerate(value)
                ]


# An operation's work: (context, validated payload, job id) -> the job's output.
Run = Callable[[Context, dict, str], Any]


@dataclass(frozen=True)
class Operation:
    name: str
    input: type[Input]
    run: Run
    summary: str
    # Runs A1111's generation: one at a time, interruptible, with progress.
    generates: bool = False


def _get(route: str) -> Run:
    return lambda ctx, _payload, _job_id: ctx.client.get(route)


def _generate(route: str) -> Run:
    def run(ctx: Context, payload: dict, job_id: str) -> dict:
        output = OutputOptions.pop_from(payload)
        check_generation(payload, ctx.catalog)
        ctx.resolve_image_urls(payload)
        result = shape_generation(ctx.client.generate(route, payload))
        return ctx.outputs.finish(job_id, result, output)

    return run


def shape_generation(result: dict) -> dict:
    """A1111's answer with `info` parsed: clients get an object, not a JSON string."""
    info = result.get("info")
    if isinstance(info, str):
        with contextlib.suppress(ValueError):
            info = json.loads(info)
    return {
        "images": result.get("images") or [],
        "parameters": result.get("parameters"),
        "info": info,
    }


def _extras(ctx: Context, payload: dict, _job_id: str) -> dict:
    check_extras(payload, ctx.catalog)
    ctx.resolve_image_urls(payload)
    return ctx.client.generate("/sdapi/v1/extra-single-image", payload)


def _interrogate(ctx: Context, payload: dict, _job_id: str) -> dict:
    ctx.resolve_image_urls(payload)
    return ctx.client.generate("/sdapi/v1/interrogate", payload)


def _png_info(ctx: Context, payload: dict, _job_id: str) -> dict:
    ctx.resolve_image_urls(payload)
    return ctx.client.post("/sdapi/v1/png-info", payload)


def _refresh_loras(ctx: Context, _payload: dict, _job_id: str) -> list:
    ctx.client.post("/sdapi/v1/refresh-loras")
    ctx.catalog.forget("loras")
    return ctx.client.get("/sdapi/v1/loras")


def _refresh_checkpoints(ctx: Context, _payload: dict, _job_id: str) -> list:
    ctx.client.post("/sdapi/v1/refresh-checkpoints")
    ctx.catalog.forget("models")
    return ctx.client.get("/sdapi/v1/sd-models")


def _set_options(ctx: Context, payload: dict, _job_id: str) -> dict:
    if not payload:
        raise JobError(
            "setOptions needs at least one option; allowed: " + ", ".join(OptionsInput.model_fields)
        )
    check_option_values(payload, ctx.catalog)
    before = ctx.client.get("/sdapi/v1/options")
    # Changing the model loads it inside this call: give it a generation's time.
    ctx.client.generate("/sdapi/v1/options", payload)
    after = ctx.client.get("/sdapi/v1/options")
    changed = {
        key: {"from": before.get(key), "to": after.get(key)}
        for key in payload
        if before.get(key) != after.get(key)
    }
    return {"changed": changed, "options": {key: after.get(key) for key in payload}}


_TABLE = (
    Operation("txt2img", Txt2ImgInput, _generate("/sdapi/v1/txt2img"), "Text to image.", True),
    Operation("img2img", Img2ImgInput, _generate("/sdapi/v1/img2img"), "Image to image.", True),
    Operation("extras", ExtrasInput, _extras, "Upscale one image.", True),
    Operation("pngInfo", PngInfoInput, _png_info, "Read the generation parameters of a PNG."),
    Operation("interrogate", InterrogateInput, _interrogate, "Caption an image.", True),
    Operation("getLoras", NoInput, _get("/sdapi/v1/loras"), "List LoRAs."),
    Operation("refreshLoras", NoInput, _refresh_loras, "Rescan the LoRA folder, then list."),
    Operation("getOptions", NoInput, _get("/sdapi/v1/options"), "All A1111 options."),
    Operation("setOptions", OptionsInput, _set_options, "Change allowed options persistently."),
    Operation("getModels", NoInput, _get("/sdapi/v1/sd-models"), "List checkpoints."),
    Operation("refreshCheckpoints", NoInput, _refresh_checkpoints, "Rescan, then list models."),
    Operation("getVaes", NoInput, _get("/sdapi/v1/sd-vae"), "List VAEs."),
    Operation("getSamplers", NoInput, _get("/sdapi/v1/samplers"), "List samplers."),
    Operation("getSchedulers", NoInput, _get("/sdapi/v1/schedulers"), "List schedulers."),
    Operation("getUpscalers", NoInput, _get("/sdapi/v1/upscalers"), "List upscalers."),
    Operation("getEmbeddings", NoInput, _get("/sdapi/v1/embeddings"), "List embeddings."),
    Operation("getMemory", NoInput, _get("/sdapi/v1/memory"), "RAM and VRAM use."),
)

OPERATIONS: dict[str, Operation] = {op.name: op for op in _TABLE}
DEFAULT_API = "txt2img"
