"""A ControlNet unit and the detect request, declared once: field, type, range, default.

The extension's own unit model (internal_controlnet/args.py at 56cec5b2) ignores unknown fields,
resets an out-of-range processor_res/threshold to its default, and reads a string image that
names an existing path from the server's disk: here unknown fields are refused, images must be
base64 or https URLs, and the slider values are checked against the module (checks.py).
"""

from __future__ import annotations

import difflib
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    model_validator,
)

from ..errors import JobError
from ..inputs import B64Image, Input, Name, Unit

RESIZE_MODES = (
    "Just Resize",
    "Crop and Resize",
    "Resize and Fill",
    # The extension's aliases of the last two.
    "Inner Fit (Scale to Fit)",
    "Outer Fit (Shrink to Fit)",
    "Scale to Fit (Inner Fit)",
    "Envelope (Outer Fit)",
)
CONTROL_MODES = ("Balanced", "My prompt is more important", "ControlNet is more important")
# Names of older clients, which the extension maps and the worker asks to be written anew.
LEGACY_FIELDS = {
    "input_image": "image",
    "guidance": "guidance_end",
    "lowvram": "low_vram",
    "mask_image": "mask",
}
# Fields of the extension's UI and batch modes: folder paths on the server, never from a job.
# ipadapter_input is torch.load()ed by the extension: arbitrary code from a job's data.
REFUSED_FIELDS = {
    "ipadapter_input": "it is unpickled with torch.load on the server, which no job may make "
    "it do; send an image and an ip-adapter module instead",
    "batch_images": "batch folders are read from the server's disk",
    "batch_mask_dir": "batch folders are read from the server's disk",
    "batch_image_files": "batch folders are read from the server's disk",
    "output_dir": "it names a folder on the server",
    "input_mode": "only the simple mode (one image per unit) works through the API",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImageWithMask(_Strict):
    image: B64Image
    mask: B64Image | None = None


# A string is an image, an object is {image, mask}: each checked as what it is.
ControlImage = Annotated[
    Annotated[B64Image, Tag("base64")] | Annotated[ImageWithMask, Tag("with_mask")],
    Discriminator(lambda value: "with_mask" if isinstance(value, dict) else "base64"),
]
# Names pydantic puts in an error's location for the union branch: not fields.
_TAGS = ("base64", "with_mask", "str", "function-after[_image(), str]")


class ControlNetUnit(_Strict):
    """One entry of alwayson_scripts.controlnet.args."""

    enabled: bool = Field(
        True, description="Worker default: true (the extension's is false, skipping the unit)."
    )
    module: Name = Field("none", description="Preprocessor, from getControlNetModules.")
    model: Name = Field("None", description="ControlNet model, from getControlNetModels.")
    weight: float = Field(1.0, ge=0, le=2, description="Control weight, 0..2.")
    image: ControlImage | None = Field(
        None,
        description="Control image: base64, https URL, or {image, mask}; "
        "img2img uses init_images[0] without it.",
    )
    mask: B64Image | None = Field(None, description="Mask for image (inpaint modules).")
    resize_mode: Literal[RESIZE_MODES] = Field(  # type: ignore[valid-type]
        "Crop and Resize", description="How the image fits: " + ", ".join(RESIZE_MODES[:3])
    )
    low_vram: bool = Field(False, description="Low VRAM mode.")
    processor_res: int = Field(
        -1, ge=-1, le=8192, description="Preprocessor resolution; -1: the module's default."
    )
    threshold_a: float = Field(-1, description="The module's first slider; -1: its default.")
    threshold_b: float = Field(-1, description="The module's second slider; -1: its default.")
    guidance_start: Unit = Field(0.0, description="Fraction of steps before the unit starts, 0..1.")
    guidance_end: Unit = Field(1.0, description="Fraction of steps after which it stops, 0..1.")
    pixel_perfect: bool = Field(False, description="Preprocessor resolution from the output size.")
    control_mode: Literal[CONTROL_MODES] = Field(  # type: ignore[valid-type]
        "Balanced", description="One of: " + ", ".join(CONTROL_MODES)
    )
    inpaint_crop_input_image: bool = Field(True, description="Crop to the img2img mask.")
    hr_option: Literal["Both", "Low res only", "High res only"] = Field(
        "Both", description="Passes of a hires fix the unit applies to."
    )
    save_detected_map: bool = Field(
        True, description="Return the detected map (in controlnet_maps); false drops it."
    )
    advanced_weighting: Annotated[list[float], Field(max_length=32)] | None = Field(
        None, description="Per-layer weights (13 for an SD1.5 ControlNet)."
    )
    effective_region_mask: B64Image | None = Field(None, description="Where the unit applies.")
    pulid_mode: Literal["Fidelity", "Extremely style"] = Field("Fidelity", description="PuLID.")
    union_control_type: Literal[
        "OpenPose",
        "Depth",
        "Soft Edge",
        "Hard Edge",
        "Normal Map",
        "Segmentation",
        "Tile",
        "Inpaint",
        "Unknown",
    ] = Field("Unknown", description="Control type of a ControlNet union model.")

    @model_validator(mode="after")
    def _guidance_order(self) -> ControlNetUnit:
        if self.guidance_start > self.guidance_end:
            raise ValueError(
                f"guidance_start ({self.guidance_start}) must not be above guidance_end "
                f"({self.guidance_end})"
            )
        return self


class DetectInput(Input):
    """POST /controlnet/detect: a preprocessor run on its own."""

    controlnet_module: Name = Field(..., description="Preprocessor, from getControlNetModules.")
    controlnet_input_images: list[B64Image] = Field(
        ..., min_length=1, max_length=8, description="1..8 images: base64 or https URLs."
    )
    controlnet_masks: list[B64Image] | None = Field(
        None, max_length=8, description="One mask per image, for modules that take one."
    )
    controlnet_processor_res: int = Field(
        -1, ge=-1, le=8192, description="Preprocessor resolution; -1: the module's default."
    )
    controlnet_threshold_a: float = Field(-1, description="First slider; -1: its default.")
    controlnet_threshold_b: float = Field(-1, description="Second slider; -1: its default.")
    low_vram: bool = Field(False, description="Low VRAM mode.")


def parse_unit(where: str, raw: object, context: dict | None) -> ControlNetUnit:
    if not isinstance(raw, dict):
        raise JobError(f'{where}: a unit must be an object such as {{"module": "canny", ...}}')
    for name, reason in REFUSED_FIELDS.items():
        if name in raw:
            raise JobError(f"{where}.{name}: not accepted: {reason}")
    for old, new in LEGACY_FIELDS.items():
        if old in raw:
            raise JobError(f"{where}.{old}: an old name; write '{new}' instead")
    return parse(ControlNetUnit, where, raw, context)


def parse(model: type[BaseModel], where: str, raw: dict, context: dict | None):
    try:
        return model.model_validate(raw, context=context)
    except ValidationError as exc:
        raise JobError(describe(exc, model, where)) from None


def describe(exc: ValidationError, model: type[BaseModel], where: str) -> str:
    parts = []
    for err in exc.errors()[:3]:
        msg = err["msg"].removeprefix("Value error, ")
        path = [str(x) for x in err["loc"] if str(x) not in _TAGS]
        loc = ".".join(path)
        field = model.model_fields.get(path[0]) if path else None
        if err["type"] == "extra_forbidden":
            known = list(model.model_fields if len(path) == 1 else ImageWithMask.model_fields)
            close = difflib.get_close_matches(path[-1], known, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            parts.append(f"{where}.{loc}: unknown field{hint}; allowed: {', '.join(known)}")
            continue
        allowed = f"; allowed: {field.description}" if field and field.description else ""
        parts.append(f"{where}{'.' + loc if loc else ''}: {msg}{allowed}")
    return "invalid input: " + " | ".join(parts)
