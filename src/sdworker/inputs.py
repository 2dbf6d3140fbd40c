"""Every job input, declared once: field, type, range and default.

Field sets mirror A1111 v1.9.3's request models exactly (a test compares them with its OpenAPI
document), so no field A1111 accepts is refused. Fields left out keep A1111's own default,
named in each description. Bounds are stricter than A1111 where A1111 would fail late or
silently do something else (sizes not a multiple of 8, zero steps...).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from .config import Settings
from .errors import JobError
from .images import check_base64_image, check_url, is_url

SEED_MAX = 2**32 - 1
# Limits set on the worker that field descriptions name as {VARIABLE}: the Settings field, read
# from the validation context (the worker's settings), else the default.
LIMITS = {"MAX_DIMENSION": "max_dimension", "JOB_TIMEOUT": "job_timeout"}


def _limit(info: ValidationInfo, key: str) -> int:
    return int((info.context or {}).get(key, getattr(Settings, key)))


def with_limits(text: str, context: Mapping[str, Any] | None = None) -> str:
    """A description with each {VARIABLE} spelt out: its default, or the value in force."""

    def spell(match: re.Match) -> str:
        name, key = match[1], LIMITS[match[1]]
        if context is None or key not in context:
            return f"{name} (default {getattr(Settings, key):g})"
        return f"{name} ({context[key]:g} on this worker)"

    return re.sub(r"\{([A-Z_]+)\}", spell, text)


def _dimension(value: int, info: ValidationInfo) -> int:
    limit = _limit(info, "max_dimension")
    if value % 8 or not 64 <= value <= limit:
        raise ValueError(f"must be a multiple of 8 from 64 to {limit}")
    return value


def _dimension_or_zero(value: int, info: ValidationInfo) -> int:
    return value if value == 0 else _dimension(value, info)


def _image(value: str, info: ValidationInfo) -> str:
    if is_url(value):  # fetched and checked just before the A1111 call
        check_url(value)
    else:
        check_base64_image(value, _limit(info, "max_image_bytes"))
    return value


def _doc(text: str, default: Any = None) -> str:
    return text if default is None else f"{text} A1111 default: {default!r}."


Dimension = Annotated[int, AfterValidator(_dimension)]
OptionalDimension = Annotated[int, AfterValidator(_dimension_or_zero)]
B64Image = Annotated[str, AfterValidator(_image)]
Seed = Annotated[int, Field(ge=-1, le=SEED_MAX)]
Unit = Annotated[float, Field(ge=0, le=1)]
Prompt = Annotated[str, Field(max_length=20_000)]
Name = Annotated[str, Field(max_length=300)]


class Input(BaseModel):
    """Base of all inputs: unknown fields are refused (see `check_known_fields`)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class NoInput(Input):
    """Operations that take no parameters."""


class GenerationInput(Input):
    """Fields shared by txt2img and img2img (A1111's StableDiffusionProcessing)."""

    prompt: Prompt | None = Field(
        None, description=_doc("Prompt; LoRAs as <lora:name:weight>.", "")
    )
    negative_prompt: Prompt | None = Field(None, description=_doc("Negative prompt.", ""))
    styles: list[Name] | None = Field(None, description="Saved prompt style names.")
    seed: Seed | None = Field(None, description=_doc("-1 (random) or 0..2^32-1.", -1))
    subseed: Seed | None = Field(None, description=_doc("-1 (random) or 0..2^32-1.", -1))
    subseed_strength: Unit | None = Field(None, description=_doc("0..1.", 0))
    seed_resize_from_h: int | None = Field(None, ge=-1, le=8192, description=_doc("-1..8192.", -1))
    seed_resize_from_w: int | None = Field(None, ge=-1, le=8192, description=_doc("-1..8192.", -1))
    sampler_name: Name | None = Field(
        None, description=_doc("A name from getSamplers, e.g. 'DPM++ 2M'.", "Euler")
    )
    scheduler: Name | None = Field(
        None, description=_doc("A name or label from getSchedulers, e.g. 'Karras'.", "automatic")
    )
    batch_size: int | None = Field(None, ge=1, le=8, description=_doc("Images per batch, 1..8.", 1))
    n_iter: int | None = Field(None, ge=1, le=16, description=_doc("Batches, 1..16.", 1))
    steps: int | None = Field(None, ge=1, le=150, description=_doc("Sampling steps, 1..150.", 50))
    cfg_scale: float | None = Field(None, ge=1, le=30, description=_doc("CFG scale, 1..30.", 7.0))
    width: Dimension | None = Field(
        None, description=_doc("Multiple of 8, 64..{MAX_DIMENSION}.", 512)
    )
    height: Dimension | None = Field(
        None, description=_doc("Multiple of 8, 64..{MAX_DIMENSION}.", 512)
    )
    restore_faces: bool | None = Field(None, description=_doc("Face restoration.", False))
    tiling: bool | None = Field(None, description=_doc("Seamless tiling.", False))
    do_not_save_samples: bool | None = Field(None, description=_doc("Skip saving to disk.", False))
    do_not_save_grid: bool | None = Field(None, description=_doc("Skip saving grids.", False))
    eta: Unit | None = Field(None, description="Ancestral noise multiplier (eta), 0..1.")
    denoising_strength: Unit | None = Field(
        None, description="0..1; img2img default 0.75; required with enable_hr."
    )
    s_min_uncond: float | None = Field(
        None, ge=0, le=15, description="Negative guidance minimum sigma, 0..15."
    )
    s_churn: float | None = Field(None, ge=0, le=100, description="Sigma churn, 0..100.")
    s_tmax: float | None = Field(None, ge=0, le=1000, description="Sigma tmax, 0..1000.")
    s_tmin: float | None = Field(None, ge=0, le=10, description="Sigma tmin, 0..10.")
    s_noise: float | None = Field(None, ge=0, le=1.1, description="Sigma noise, 0..1.1.")
    override_settings: dict[str, Any] | None = Field(
        None, description="A1111 options for this job only (names from getOptions; no paths)."
    )
    override_settings_restore_afterwards: Literal[True] | None = Field(
        None,
        description="Only true (A1111's default): a job's overrides never leak into the next "
        "job; use setOptions for lasting changes.",
    )
    refiner_checkpoint: Name | None = Field(None, description="Refiner model (from getModels).")
    refiner_switch_at: Unit | None = Field(
        None, description="Fraction of steps before the refiner, 0..1."
    )
    disable_extra_networks: bool | None = Field(
        None, description=_doc("Ignore <lora:...> tags.", False)
    )
    firstpass_image: B64Image | None = Field(
        None, description="Base64 image for the hires first pass."
    )
    comments: dict[str, Any] | None = Field(None, description="Comments stored in the infotext.")
    force_task_id: Annotated[str, Field(max_length=128)] | None = Field(
        None, description="Task id for A1111's progress tracking."
    )
    sampler_index: Name | None = Field(
        None, description="Deprecated alias of sampler_name (used when sampler_name is absent)."
    )
    script_name: Name | None = Field(
        None, description="A1111 script to run (from its script list)."
    )
    script_args: list[Any] | None = Field(None, description="Arguments of script_name.")
    send_images: bool | None = Field(None, description=_doc("Return the images.", True))
    save_images: bool | None = Field(None, description=_doc("Also save them on the worker.", False))
    alwayson_scripts: dict[str, Any] | None = Field(
        None, description="Extension arguments, e.g. {'controlnet': {'args': [...]}}."
    )
    infotext: Annotated[str, Field(max_length=20_000)] | None = Field(
        None, description="Infotext whose parameters fill the fields not given."
    )


class OutputChoice(Input):
    """The worker's own fields: how images come back. Never sent to A1111."""

    output_format: Literal["png", "jpeg", "webp"] | None = Field(
        None, description="png (A1111's bytes untouched), jpeg or webp. Default: 'png'."
    )
    output_quality: int | None = Field(
        None, ge=1, le=100, description="JPEG/WebP quality, 1..100. Default: 90."
    )
    output_lossless: bool | None = Field(None, description="Lossless WebP. Default: false.")
    output: Literal["base64", "url"] | None = Field(
        None, description="base64, or url: upload to the configured bucket. Default: 'base64'."
    )


class JobControl(Input):
    """The worker's own fields: how the job is run. Never sent to A1111."""

    timeout: float | None = Field(
        None,
        gt=0,
        le=3600,
        description="Seconds before the job is interrupted; at most {JOB_TIMEOUT}.",
    )
    progress_images: bool | None = Field(
        None, description="Send small preview images with progress updates. Default: false."
    )


# Fields of the worker itself; every other field is A1111's.
WORKER_FIELDS = frozenset(OutputChoice.model_fields) | frozenset(JobControl.model_fields)


class Txt2ImgInput(OutputChoice, JobControl, GenerationInput):
    enable_hr: bool | None = Field(None, description=_doc("Hires fix second pass.", False))
    firstphase_width: OptionalDimension | None = Field(None, description="0 or a size (legacy).")
    firstphase_height: OptionalDimension | None = Field(None, description="0 or a size (legacy).")
    hr_scale: float | None = Field(None, ge=1, le=4, description=_doc("Hires upscale, 1..4.", 2.0))
    hr_upscaler: Name | None = Field(None, description="Upscaler or latent mode for hires fix.")
    hr_second_pass_steps: int | None = Field(
        None, ge=0, le=150, description=_doc("Hires steps, 0 (same) ..150.", 0)
    )
    hr_resize_x: OptionalDimension | None = Field(None, description=_doc("0 or target width.", 0))
    hr_resize_y: OptionalDimension | None = Field(None, description=_doc("0 or target height.", 0))
    hr_checkpoint_name: Name | None = Field(None, description="Model for the hires pass.")
    hr_sampler_name: Name | None = Field(None, description="Sampler for the hires pass.")
    hr_scheduler: Name | None = Field(None, description="Scheduler for the hires pass.")
    hr_prompt: Prompt | None = Field(None, description=_doc("Prompt for the hires pass.", ""))
    hr_negative_prompt: Prompt | None = Field(None, description=_doc("Its negative prompt.", ""))

    @model_validator(mode="after")
    def _hires_needs_denoising(self) -> Txt2ImgInput:
        # A1111 fails with a bare 500 when this is missing.
        if self.enable_hr and self.denoising_strength is None:
            raise ValueError(
                "denoising_strength (0..1, e.g. 0.5) is required when enable_hr is true"
            )
        return self


class Img2ImgInput(OutputChoice, JobControl, GenerationInput):
    init_images: list[B64Image] = Field(
        ...,
        min_length=1,
        max_length=8,
        description="1..8 images: base64 (data: URIs accepted) or https URLs.",
    )
    resize_mode: int | None = Field(
        None, ge=0, le=3, description=_doc("0 resize, 1 crop, 2 fill, 3 latent upscale.", 0)
    )
    image_cfg_scale: float | None = Field(None, ge=0, le=30, description="Image CFG scale, 0..30.")
    mask: B64Image | None = Field(
        None, description="Inpainting mask (white = repaint): base64 or https URL."
    )
    mask_blur_x: int | None = Field(None, ge=0, le=64, description=_doc("0..64.", 4))
    mask_blur_y: int | None = Field(None, ge=0, le=64, description=_doc("0..64.", 4))
    mask_blur: int | None = Field(None, ge=0, le=64, description="Sets both blurs, 0..64.")
    mask_round: bool | None = Field(None, description=_doc("Round mask values.", True))
    inpainting_fill: int | None = Field(
        None, ge=0, le=3, description=_doc("0 fill, 1 original, 2 noise, 3 nothing.", 0)
    )
    inpaint_full_res: bool | None = Field(
        None, description=_doc("Inpaint only the masked area.", True)
    )
    inpaint_full_res_padding: int | None = Field(None, ge=0, le=256, description=_doc("0..256.", 0))
    inpainting_mask_invert: int | None = Field(None, ge=0, le=1, description=_doc("0 or 1.", 0))
    initial_noise_multiplier: float | None = Field(None, ge=0, le=1.5, description="0..1.5.")
    latent_mask: B64Image | None = Field(None, description="Base64 latent mask.")
    include_init_images: bool | None = Field(
        None, description=_doc("Return the inputs too.", False)
    )


class ExtrasInput(Input):
    image: B64Image = Field(..., description="Base64 image to upscale.")
    resize_mode: Literal[0, 1] | None = Field(
        None, description=_doc("0 scale by upscaling_resize, 1 to upscaling_resize_w/h.", 0)
    )
    show_extras_results: bool | None = Field(None, description=_doc("Return the image.", True))
    gfpgan_visibility: Unit | None = Field(None, description=_doc("0..1.", 0))
    codeformer_visibility: Unit | None = Field(None, description=_doc("0..1.", 0))
    codeformer_weight: Unit | None = Field(None, description=_doc("0..1.", 0))
    upscaling_resize: float | None = Field(None, gt=0, le=8, description=_doc("Scale, >0..8.", 2))
    upscaling_resize_w: int | None = Field(None, ge=1, le=8192, description=_doc("1..8192.", 512))
    upscaling_resize_h: int | None = Field(None, ge=1, le=8192, description=_doc("1..8192.", 512))
    upscaling_crop: bool | None = Field(None, description=_doc("Crop to fit.", True))
    upscaler_1: Name | None = Field(None, description=_doc("Name from getUpscalers.", "None"))
    upscaler_2: Name | None = Field(None, description=_doc("Name from getUpscalers.", "None"))
    extras_upscaler_2_visibility: Unit | None = Field(None, description=_doc("0..1.", 0))
    upscale_first: bool | None = Field(
        None, description=_doc("Upscale before restoring faces.", False)
    )


class PngInfoInput(Input):
    image: B64Image = Field(..., description="Base64 PNG whose generation parameters to read.")


class InterrogateInput(Input):
    image: B64Image = Field(..., description="Base64 image to caption.")
    model: Literal["clip", "deepdanbooru"] | None = Field(
        None, description=_doc("Captioner.", "clip")
    )


class OptionsInput(Input):
    """The options a job may change persistently; paths and directories are never settable."""

    # Other names are refused too, but only A1111's option list can tell an option the worker
    # will not set from a misspelt one: checks.check_option_names, when A1111 is at hand.
    model_config = ConfigDict(extra="allow")

    sd_model_checkpoint: Name | None = Field(None, description="Model title from getModels.")
    sd_vae: Name | None = Field(None, description="'Automatic', 'None' or a name from getVaes.")
    CLIP_stop_at_last_layers: int | None = Field(None, ge=1, le=12, description="Clip skip, 1..12.")
    eta_noise_seed_delta: int | None = Field(
        None, ge=0, le=SEED_MAX, description="ENSD, 0..2^32-1."
    )
    randn_source: Literal["GPU", "CPU", "NV"] | None = Field(None, description="Noise source.")
    token_merging_ratio: float | None = Field(None, ge=0, le=0.9, description="ToMe ratio, 0..0.9.")
    sd_noise_schedule: Literal["Default", "Zero Terminal SNR"] | None = Field(
        None, description="Noise schedule."
    )
    emphasis: Literal["Original", "No norm", "None"] | None = Field(
        None, description="Prompt emphasis mode."
    )
    sd_checkpoints_limit: int | None = Field(
        None, ge=1, le=10, description="Models kept loaded, 1..10."
    )
    sd_vae_overrides_per_model_preferences: bool | None = Field(
        None, description="Whether sd_vae overrides per-model VAE preferences."
    )
    s_min_uncond: float | None = Field(
        None, ge=0, le=15, description="Negative guidance minimum sigma."
    )
    eta_ancestral: Unit | None = Field(None, description="Eta for ancestral samplers, 0..1.")
    eta_ddim: Unit | None = Field(None, description="Eta for DDIM, 0..1.")
    img2img_fix_steps: bool | None = Field(None, description="img2img does exactly `steps` steps.")
    samples_format: Literal["png", "jpg", "jpeg", "webp"] | None = Field(
        None, description="Format of images A1111 saves."
    )
    jpeg_quality: int | None = Field(None, ge=1, le=100, description="Quality of saved JPEG/WebP.")


# Option names that point at the file system: never settable through a job.
def is_path_option(name: str) -> bool:
    lowered = name.lower()
    return (
        lowered.startswith(("outdir_", "save_"))
        or lowered == "temp_dir"
        or lowered.endswith(("_dir", "_dirs", "_path", "_directory"))
        or "filename" in lowered
    )


def check_known_fields(payload: dict, model: type[Input], extra: frozenset[str] = frozenset()):
    """Refuse fields A1111 would silently ignore, with a 'did you mean' hint."""
    known = set(model.model_fields) | extra
    unknown = sorted(k for k in payload if k not in known)
    if not unknown:
        return
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
        hints.append(f"'{name}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
    raise JobError(
        f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(hints)}; "
        f"see the README's input reference for the accepted fields"
    )


def validate(model: type[Input], payload: dict, context: dict | None = None) -> dict:
    """Check a payload against its model; return what to send to A1111 (given fields only)."""
    if model.model_config.get("extra") == "forbid":
        check_known_fields(payload, model)
    try:
        parsed = model.model_validate(payload, context=context)
    except ValidationError as exc:
        raise JobError(_describe(exc, model, context)) from None
    return {k: v for k, v in parsed.model_dump(exclude_unset=True).items() if v is not None}


def _describe(exc: ValidationError, model: type[Input], context: dict | None) -> str:
    parts = []
    for err in exc.errors()[:5]:
        msg = err["msg"].removeprefix("Value error, ")
        if not err["loc"]:  # a rule across fields: the message names them
            parts.append(msg)
            continue
        loc = ".".join(str(x) for x in err["loc"])
        field = model.model_fields.get(str(err["loc"][0]))
        got = "" if err["type"] == "missing" else f" (got {_short(err.get('input'))})"
        described = field is not None and field.description
        allowed = f"; allowed: {with_limits(field.description, context)}" if described else ""
        parts.append(f"{loc}: {msg}{got}{allowed}")
    return "invalid input: " + " | ".join(parts)


def _short(value: Any) -> str:
    # Long strings are most likely images: never echo (and so never log) their content.
    if isinstance(value, str) and len(value) > 60:
        return f"a string of {len(value)} characters"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
