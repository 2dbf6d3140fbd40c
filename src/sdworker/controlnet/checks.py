"""What the ControlNet extension would accept with HTTP 200 and then skip, refused first.

Each refusal names the unit (alwayson_scripts.<key>.args[i]), the field, and what is installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import model_files
from ..catalog import Catalog, unknown_name
from ..errors import JobError
from . import annotators, families
from . import catalog as lists
from .units import ControlNetUnit, DetectInput, parse_unit

SCRIPT = "controlnet"
# Preprocessors whose result is an embedding: the detect route answers 422 to them.
EMBEDDING_MODULES = (
    "clip_vision",
    "revision_clipvision",
    "revision_ignore_prompt",
    "ip-adapter-auto",
)


def controlnet_key(payload: dict) -> str | None:
    """The alwayson_scripts key of ControlNet: A1111 matches script titles in any case."""
    keys = [k for k in payload.get("alwayson_scripts") or {} if k.lower() == SCRIPT]
    if len(keys) > 1:
        raise JobError(f"alwayson_scripts: ControlNet given twice ({', '.join(keys)}); use one key")
    return keys[0] if keys else None


def unit_list(payload: dict, key: str) -> list:
    where = f"alwayson_scripts.{key}"
    entry = payload["alwayson_scripts"][key]
    # A1111 reads only entry["args"]: anything else is dropped without a word.
    if not isinstance(entry, dict) or set(entry) != {"args"} or not isinstance(entry["args"], list):
        raise JobError(
            f'{where}: must be {{"args": [unit, ...]}}, a list of ControlNet units under "args" '
            "(A1111 ignores anything else there)"
        )
    return entry["args"]


def check_units(payload: dict, catalog: Catalog, kind: str, limits: dict) -> list[ControlNetUnit]:
    """Check every unit, set `enabled` where left out; return the enabled units."""
    key = controlnet_key(payload)
    if key is None:
        return []
    raw_units = unit_list(payload, key)
    where = f"alwayson_scripts.{key}.args"
    slots = lists.unit_count(catalog)
    if len(raw_units) > slots:
        raise JobError(
            f"{where}: {len(raw_units)} units, but this worker's ControlNet has {slots} slots "
            "(option control_net_unit_count): A1111 would drop the rest without a word"
        )
    enabled = []
    for i, raw in enumerate(raw_units):
        unit = parse_unit(f"{where}[{i}]", raw, limits)
        raw["enabled"] = unit.enabled  # the extension's default is false: never rely on it
        # The extension validates every unit it is given, enabled or not (an unknown module:
        # HTTP 500).
        module_name(f"{where}[{i}].module", unit.module, catalog)
        if unit.enabled:
            check_unit(f"{where}[{i}]", unit, catalog, kind, payload)
            enabled.append(unit)
    return enabled


def check_unit(where: str, unit: ControlNetUnit, catalog: Catalog, kind: str, payload: dict):
    module = module_name(f"{where}.module", unit.module, catalog)
    detail = lists.module_details(catalog)[module]
    check_module_usable(f"{where}.module", module, catalog)
    values = (unit.processor_res, unit.threshold_a, unit.threshold_b)
    check_sliders(f"{where}.", module, detail, values)
    if unit.image is None and kind != "img2img":
        raise JobError(
            f"{where}.image: no control image; the extension would generate without this unit. "
            "Give a base64 image or an https URL (img2img uses init_images[0] when it is left out)"
        )
    if unit.model == "None" and detail.get("model_free"):
        return
    check_model(f"{where}.model", unit.model, catalog, payload)


def module_name(field: str, name: str, catalog: Catalog) -> str:
    """The internal name of a preprocessor given by name or by UI label."""
    details, labels = lists.module_details(catalog), lists.module_labels(catalog)
    if name in details:
        return name
    if name in labels:
        return labels[name]
    raise unknown_name(field, name, list(details), "ControlNet module (preprocessor)")


def check_module_usable(field: str, module: str, catalog: Catalog) -> None:
    package = annotators.PACKAGES.get(module)
    if package:
        raise JobError(
            f"{field}: '{module}' needs the Python package {package}, which this image does not "
            "install (the extension's installer fetches it from GitHub); the extension would "
            "fail inside and generate without ControlNet. Use another preprocessor"
        )
    flags = catalog.cmd_flags()
    if not model_files.can_look(flags):
        return
    root = annotators.annotator_dir(
        flags["data_dir"],
        flags.get("controlnet_annotator_models_path"),
        catalog.options().get("control_net_modules_path"),
    )
    lacking = annotators.missing(module, root)
    if lacking:
        files = "; ".join(f"{a.path(root)} (from {a.url})" for a in lacking)
        raise JobError(
            f"{field}: the annotator weights of preprocessor '{module}' are not on this worker, "
            f"and offline the extension would generate without ControlNet. Missing: {files}; "
            "put them there (see the README's ControlNet section)"
        )


UNIT_SLIDERS = ("processor_res", "threshold_a", "threshold_b")
DETECT_SLIDERS = ("controlnet_processor_res", "controlnet_threshold_a", "controlnet_threshold_b")


def check_sliders(
    where: str, module: str, detail: dict, values: tuple, names: tuple = UNIT_SLIDERS
) -> None:
    """processor_res, threshold_a and threshold_b against the module's sliders (visible ones
    only: resolution first, when the module has one, then the others in order)."""
    sliders = list(detail.get("sliders") or [])
    by_field: dict[str, dict] = {}
    if sliders and "resolution" in str(sliders[0].get("name", "")).lower():
        by_field["processor_res"] = sliders.pop(0)
    for field, slider in zip(("threshold_a", "threshold_b"), sliders, strict=False):
        by_field[field] = slider
    for field, name, value in zip(UNIT_SLIDERS, names, values, strict=True):
        if value == -1:
            continue
        slider = by_field.get(field)
        if slider is None:
            # The extension resets it and carries on: nothing would use the value.
            raise JobError(
                f"{where}{name}: preprocessor '{module}' has no such setting (its settings: "
                f"{_slider_list(by_field)}); leave it out"
            )
        if not slider["min"] <= value <= slider["max"]:
            raise JobError(
                f"{where}{name}: {value:g} is outside {slider['name']} of '{module}', "
                f"{slider['min']:g}..{slider['max']:g} (the extension would use its default, "
                f"{slider['value']:g}, instead)"
            )


def _slider_list(by_field: dict) -> str:
    shown = [f"{f} = {s['name']} {s['min']:g}..{s['max']:g}" for f, s in by_field.items()]
    return ", ".join(shown) or "none"


def model_title(name: str, catalog: Catalog) -> str | None:
    """The installed model a name means: its exact title, or its title without the hash."""
    for refresh in (False, True):
        for title in lists.models(catalog, refresh):
            if name in (title, title.rsplit(" [", 1)[0]):
                return title
    return None


def check_model(field: str, name: str, catalog: Catalog, payload: dict) -> None:
    title = model_title(name, catalog) if name != "None" else None
    if title is None:
        installed = [m for m in lists.models(catalog) if m != "None"]
        hint = " This module needs a ControlNet model." if name == "None" else ""
        raise unknown_name(field, name, installed, "ControlNet model", hint)
    flags = catalog.cmd_flags()
    if model_files.can_look(flags):
        check_family(field, title, catalog, payload, flags)


def check_family(field: str, title: str, catalog: Catalog, payload: dict, flags: dict) -> None:
    """An SDXL ControlNet on an SD1.5 checkpoint (or the reverse) does nothing useful."""
    control = families.controlnet_file(title.rsplit(" [", 1)[0], flags, catalog.options())
    checkpoint = _checkpoint_file(catalog, payload)
    control_family = families.family(control) if control else None
    base_family = families.family(checkpoint) if checkpoint else None
    if control_family and base_family and control_family != base_family:
        raise JobError(
            f"{field}: '{title}' is a ControlNet for {control_family}, but the checkpoint "
            f"{checkpoint.name} is {base_family}; use a ControlNet made for {base_family}"
        )


def _checkpoint_file(catalog: Catalog, payload: dict) -> Path | None:
    overrides = payload.get("override_settings") or {}
    wanted = overrides.get("sd_model_checkpoint")
    if not wanted:
        wanted = catalog.client.get("/sdapi/v1/options").get("sd_model_checkpoint")
    for model in catalog.models():
        if wanted in (model.get("title"), model.get("model_name")) and model.get("filename"):
            return Path(model["filename"])
    return None


def check_detect(args: DetectInput, catalog: Catalog) -> str:
    field = "controlnet_module"
    module = module_name(field, args.controlnet_module, catalog)
    if module in EMBEDDING_MODULES:
        raise JobError(
            f"{field}: '{module}' gives an embedding, not an image: the detect route does not "
            "run it"
        )
    check_module_usable(field, module, catalog)
    detail: dict[str, Any] = lists.module_details(catalog)[module]
    values = (
        args.controlnet_processor_res,
        args.controlnet_threshold_a,
        args.controlnet_threshold_b,
    )
    check_sliders("", module, detail, values, DETECT_SLIDERS)
    masks = args.controlnet_masks
    if masks is not None and len(masks) != len(args.controlnet_input_images):
        raise JobError(
            "controlnet_masks: give one mask per image in controlnet_input_images "
            f"({len(args.controlnet_input_images)}), or none"
        )
    return module
