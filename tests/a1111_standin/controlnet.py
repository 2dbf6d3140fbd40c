"""The ControlNet extension (sd-webui-controlnet 56cec5b2) as the real engine runs it offline:
its routes, and what it does to txt2img/img2img. Module names, labels, sliders and control types
are the real engine's (controlnet_v1_1_455.json, read from its routes); the stand-in has no
annotator weights, like an engine where none were baked.

What the real extension does with a unit, reproduced here: every unit given (up to the slot
count, the rest dropped) is validated (unknown module, weight outside 0..2: HTTP 500); units
without "enabled": true are skipped; any failure while preparing an enabled unit (unknown
model, no image, annotator weights missing) is logged and the whole script is skipped, the
generation still answering 200; otherwise each enabled unit appends its detected map(s).
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image, ImageFilter, ImageOps

from . import imaging
from .errors import A1111Error, http_exception
from .messages import Request

if TYPE_CHECKING:
    from .app import App

FACTS = json.loads((Path(__file__).with_name("controlnet_v1_1_455.json")).read_text())
UNIT_COUNT = 3
SCRIPT_TITLES = ("controlnet", "controlnet m2m")
# Preprocessors that run offline without any file (the real engine's §1.7 of extensions.md);
# every other one needs annotator weights or a package the stand-in does not have.
RUNS_OFFLINE = frozenset(
    {
        "none",
        "canny",
        "invert",
        "threshold",
        "color",
        "shuffle",
        "scribble_xdog",
        "blur_gaussian",
        "lineart_standard",
        "tile_resample",
        "tile_colorfix",
        "tile_colorfix+sharp",
        "reference_only",
        "reference_adain",
        "reference_adain+attn",
        "recolor_luminance",
        "recolor_intensity",
        "inpaint",
        "inpaint_only",
        "mediapipe_face",
    }
)
EMBEDDING_MODULES = (
    "clip_vision",
    "revision_clipvision",
    "revision_ignore_prompt",
    "ip-adapter-auto",
)


def _labels() -> dict[str, str]:
    return dict(zip(FACTS["alias_list"], FACTS["module_list"], strict=True))


def internal_name(module: Any) -> str | None:
    if module in FACTS["module_detail"]:
        return module
    return _labels().get(module)


def _model_title(app: App, name: Any) -> str | None:
    """The extension's loose match: exact, then the name without hash, then a substring."""
    titles = app.config.controlnet_models
    if not isinstance(name, str) or name == "None":
        return None
    for title in titles:
        if name in (title, title.rsplit(" [", 1)[0]):
            return title
    found = sorted((t for t in titles if name.lower() in t.lower()), key=len)
    return found[0] if found else None


# --- routes ----------------------------------------------------------------------------------


def get_version(app: App, req: Request) -> dict:
    return {"version": 3}


def get_model_list(app: App, req: Request) -> dict:
    return {"model_list": list(app.config.controlnet_models)}


def get_module_list(app: App, req: Request) -> dict:
    from .schema import parse_query_bool

    alias = parse_query_bool(req.query, "alias_names", False)
    names = FACTS["alias_list"] if alias else FACTS["module_list"]
    details = FACTS["module_detail"]
    by_label = dict(zip(FACTS["module_list"], FACTS["alias_list"], strict=True))
    detail = {by_label[k] if alias else k: v for k, v in details.items()}
    return {"module_list": list(names), "module_detail": detail}


def get_control_types(app: App, req: Request) -> dict:
    """select_control_type(): models whose name holds the type's name ("All": every one),
    the default the first with "11" in its name."""
    models = ["None", *app.config.controlnet_models]
    types = {}
    for name, entry in FACTS["control_types"].items():
        listed = models
        default = "None"
        if name != "All":
            listed = [m for m in models if m == "None" or name.lower() in m.lower()]
            if len(listed) > 1:
                default = next((m for m in listed if "11" in m.split("[")[0]), listed[1])
        types[name] = {
            "module_list": entry["module_list"],
            "model_list": listed,
            "default_option": entry["default_option"],
            "default_model": default,
        }
    return {"control_types": types}


def get_settings(app: App, req: Request) -> dict:
    return {"control_net_unit_count": UNIT_COUNT}


def post_detect(app: App, req: Request) -> dict:
    from .schema import parse_dict_body

    body = parse_dict_body(req.body, req.content_type)
    module = internal_name(body.get("controlnet_module", "none"))
    if module is None:
        raise http_exception(422, "Module not available")
    if module in EMBEDDING_MODULES:
        raise http_exception(422, "Module not supported")
    images = body.get("controlnet_input_images") or []
    if not images:
        raise http_exception(422, "No image selected")
    _needs_download(module)
    res = body.get("controlnet_processor_res", -1)
    res = 512 if not isinstance(res, int) or res < 64 else res
    maps = [_detected_map(imaging.decode_base64_to_image(i), res) for i in images]
    return {"info": "Success", "images": [_b64(m) for m in maps]}


ROUTES = {
    "/controlnet/version": {"GET": get_version},
    "/controlnet/model_list": {"GET": get_model_list},
    "/controlnet/module_list": {"GET": get_module_list},
    "/controlnet/control_types": {"GET": get_control_types},
    "/controlnet/settings": {"GET": get_settings},
    "/controlnet/detect": {"POST": post_detect},
}


# --- generation ------------------------------------------------------------------------------


def _needs_download(module: str) -> None:
    if module not in RUNS_OFFLINE:
        # torch.hub's download fails at once offline; A1111's middleware reports it.
        raise A1111Error("URLError", "<urlopen error [Errno -2] Name or service not known>")


def _validate(unit: Any) -> dict:
    if not isinstance(unit, dict):
        raise A1111Error("AssertionError", "")
    module = unit.get("module", "none")
    if internal_name(module) is None:
        raise A1111Error(
            "ValidationError",
            "1 validation error for ControlNetUnit\nmodule\n  "
            f"module({module}) not found in supported modules. (type=value_error)",
        )
    weight = unit.get("weight", 1.0)
    if isinstance(weight, (int, float)) and not 0 <= weight <= 2:
        bound, word = (2.0, "less") if weight > 2 else (0.0, "greater")
        kind = "not_le" if weight > 2 else "not_ge"
        raise A1111Error(
            "ValidationError",
            f"1 validation error for ControlNetUnit\nweight\n  ensure this value is {word} than "
            f"or equal to {bound} (type=value_error.number.{kind}; limit_value={bound})",
        )
    return unit


def enabled_units(app: App, kind: str, req: dict) -> list[dict]:
    """The units the extension will apply, or [] when it would skip itself (HTTP 200)."""
    scripts = req.get("alwayson_scripts") or {}
    entry = next((v for k, v in scripts.items() if k.lower() == "controlnet"), None)
    if not isinstance(entry, dict) or "args" not in entry:
        return []
    args = entry["args"]
    units = [_validate(args[i]) for i in range(min(UNIT_COUNT, len(args)))]
    enabled = [u for u in units if u.get("enabled") is True]
    for unit in enabled:
        module = internal_name(unit.get("module", "none"))
        model_free = FACTS["module_detail"][module]["model_free"]
        if not model_free and _model_title(app, unit.get("model", "None")) is None:
            return []  # RuntimeError "model not found" inside process(): logged, skipped
        if unit.get("image") is None and kind != "img2img":
            return []  # ValueError "controlnet is enabled but no input image is given"
        if module not in RUNS_OFFLINE:
            return []
    return enabled


def detected_maps(units: list[dict], req: dict, init_images, hires: bool) -> list[Image.Image]:
    maps = []
    for unit in units:
        if unit.get("save_detected_map") is False:
            continue
        source = unit.get("image")
        if isinstance(source, dict):
            source = source.get("image")
        image = imaging.decode_base64_to_image(source) if source else init_images[0]
        detected = _detected_map(image, min(req["width"], req["height"]))
        detected = detected.resize((req["width"], req["height"]))
        maps.extend([detected] * (2 if hires else 1))
    return maps


def _detected_map(image: Image.Image, resolution: int) -> Image.Image:
    edges = image.convert("L").filter(ImageFilter.FIND_EDGES)
    scale = resolution / min(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return ImageOps.autocontrast(edges).resize(size).convert("RGB")


def _b64(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")
