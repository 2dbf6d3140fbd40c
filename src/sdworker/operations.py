"""The table of operations: `input.api` name -> input model and what to do with A1111."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import adetailer, model_files
from .a1111_client import A1111Client
from .catalog import Catalog
from .checks import (
    check_extras,
    check_generation,
    check_interrogator,
    check_option_names,
    check_option_values,
)
from .config import Settings
from .controlnet import operations as controlnet
from .controlnet.units import DetectInput
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
        for name in IMAGE_FIELDS:
            value = payload.get(name)
            if isinstance(value, str) and is_url(value):
                payload[name] = fetch_as_base64(name, value, limit, timeout)
            elif isinstance(value, list):
                payload[name] = [
                    fetch_as_base64(f"{name}.{i}", v, limit, timeout) if is_url(v) else v
                    for i, v in enumerate(value)
                ]


# An operation's work: (context, the call) -> the job's output.
Run = Callable[[Context, "Call"], Any]


@dataclass(frozen=True)
class Operation:
    name: str
    input: type[Input]
    run: Run
    summary: str
    # Runs A1111's generation: one at a time, interruptible, with progress.
    generates: bool = False


@dataclass
class Call:
    """One validated job, ready to run."""

    job: dict
    operation: Operation
    payload: dict
    timeout: float
    progress_images: bool = False
    output: OutputOptions = field(default_factory=OutputOptions)
    # Set when the job has ended (timeout, cancel) before its turn came: it must not run.
    abandoned: threading.Event = field(default_factory=threading.Event)

    @property
    def job_id(self) -> str:
        return str(self.job.get("id"))

    def generate(self, ctx: Context, route: str) -> Any:
        # The HTTP wait ends shortly after the job's own timeout and the interrupt grace,
        # so no thread outlives a hung A1111 for long.
        read_timeout = self.timeout + ctx.settings.interrupt_grace + 1
        return ctx.client.post(route, self.payload, timeout=read_timeout)


def _get(route: str) -> Run:
    return lambda ctx, _call: ctx.client.get(route)


def _generate(route: str) -> Run:
    kind = route.rsplit("/", 1)[-1]

    def run(ctx: Context, call: Call) -> dict:
        check_generation(call.payload, ctx.catalog)
        adetailer.check(call.payload, ctx.catalog)
        with_controlnet = controlnet.prepare_generation(ctx, call.payload, kind)
        ctx.resolve_image_urls(call.payload)
        result = shape_generation(call.generate(ctx, route))
        result = controlnet.separate_maps(result, with_controlnet)
        return ctx.outputs.finish(call.job_id, result, call.output)

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


def _extras(ctx: Context, call: Call) -> dict:
    check_extras(call.payload, ctx.catalog)
    ctx.resolve_image_urls(call.payload)
    return call.generate(ctx, "/sdapi/v1/extra-single-image")


def _interrogate(ctx: Context, call: Call) -> dict:
    check_interrogator(call.payload.get("model", "clip"), ctx.catalog)
    ctx.resolve_image_urls(call.payload)
    return call.generate(ctx, "/sdapi/v1/interrogate")


def _upscalers(ctx: Context, _call: Call) -> list:
    entries = ctx.client.get("/sdapi/v1/upscalers")
    return model_files.with_status(entries, model_files.upscaler_missing, ctx.catalog.cmd_flags())


def _face_restorers(ctx: Context, _call: Call) -> list:
    entries = ctx.client.get("/sdapi/v1/face-restorers")
    flags = ctx.catalog.cmd_flags()
    return model_files.with_status(entries, model_files.face_restorer_missing, flags)


def _png_info(ctx: Context, call: Call) -> dict:
    ctx.resolve_image_urls(call.payload)
    return ctx.client.post("/sdapi/v1/png-info", call.payload)


def _refresh_loras(ctx: Context, _call: Call) -> list:
    ctx.client.post("/sdapi/v1/refresh-loras")
    ctx.catalog.forget("loras")
    return ctx.client.get("/sdapi/v1/loras")


def _refresh_checkpoints(ctx: Context, _call: Call) -> list:
    ctx.client.post("/sdapi/v1/refresh-checkpoints")
    ctx.catalog.forget("models")
    return ctx.client.get("/sdapi/v1/sd-models")


def _set_options(ctx: Context, call: Call) -> dict:
    payload = call.payload
    if not payload:
        raise JobError(
            "setOptions needs at least one option; allowed: " + ", ".join(OptionsInput.model_fields)
        )
    check_option_names("setOptions", payload, ctx.catalog, list(OptionsInput.model_fields))
    check_option_values(payload, ctx.catalog)
    before = ctx.client.get("/sdapi/v1/options")
    # Changing the model loads it inside this call: give it the job's time.
    call.generate(ctx, "/sdapi/v1/options")
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
    Operation("getUpscalers", NoInput, _upscalers, "Upscalers, with their weights' presence."),
    Operation("getFaceRestorers", NoInput, _face_restorers, "Face restorers, likewise."),
    Operation("getEmbeddings", NoInput, _get("/sdapi/v1/embeddings"), "List embeddings."),
    Operation("getMemory", NoInput, _get("/sdapi/v1/memory"), "RAM and VRAM use."),
    Operation("getAdetailerModels", NoInput, adetailer.get_models, "ADetailer's ad_model names."),
    Operation("getControlNetModels", NoInput, controlnet.get_models, "List ControlNet models."),
    Operation("getControlNetModules", NoInput, controlnet.get_modules, "Preprocessors, detailed."),
    Operation("getControlNetTypes", NoInput, controlnet.get_types, "ControlNet control types."),
    Operation("controlNetDetect", DetectInput, controlnet.detect, "Run a preprocessor.", True),
)

OPERATIONS: dict[str, Operation] = {op.name: op for op in _TABLE}
DEFAULT_API = "txt2img"
