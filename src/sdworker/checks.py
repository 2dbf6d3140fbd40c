"""Checks that need A1111's lists: what A1111 would accept silently and then ignore."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

from . import model_files
from .catalog import Catalog, unknown_name
from .errors import JobError
from .inputs import OptionsInput, is_path_option, validate
from .model_files import Weights

# A1111 parses extra networks as <kind:arg1:arg2...>; `lyco` is an alias of `lora`.
_EXTRA_NETWORK = re.compile(r"<(\w+):([^>]+)>")
_LORA_KINDS = ("lora", "lyco")
_NAMED_ARG = re.compile(r"^(te|unet|dyn)=", re.IGNORECASE)
SAME_SAMPLER = "Use same sampler"
SAME_SCHEDULER = "Use same scheduler"
SAME_CHECKPOINT = "Use same checkpoint"


def lora_tags(field: str, prompt: str) -> list[tuple[str, list[str]]]:
    tags = []
    for match in _EXTRA_NETWORK.finditer(prompt or ""):
        kind = match.group(1)
        if kind.lower() in _LORA_KINDS and kind not in _LORA_KINDS:
            # A1111 matches the kind exactly and would skip this tag without a word.
            raise JobError(f"{field}: write <{kind.lower()}:...>, not <{kind}:...>")
        if kind in _LORA_KINDS:
            name, *args = match.group(2).split(":")
            tags.append((name.strip(), [a.strip() for a in args]))
    return tags


def check_loras(field: str, prompt: str, catalog: Catalog) -> None:
    for name, args in lora_tags(field, prompt):
        for arg in args:
            value = _NAMED_ARG.sub("", arg)
            try:
                float(value)
            except ValueError:
                raise JobError(
                    f"{field}: LoRA weight '{arg}' in <lora:{name}:...> is not a number "
                    f"(write e.g. <lora:{name}:0.8>)"
                ) from None
        if not catalog.has_lora(name):
            raise unknown_name(field, name, catalog.loras(), "LoRA")


def check_sampler(field: str, value: str | None, catalog: Catalog, extra=()) -> None:
    if value is None or value in extra or value in catalog.samplers():
        return
    hint = ""
    for scheduler in catalog.schedulers():
        if value.endswith(" " + scheduler):
            hint = (
                f" Since A1111 1.9 the schedule is separate: use sampler_name "
                f"'{value[: -len(scheduler) - 1]}' with scheduler '{scheduler}'."
            )
            break
    raise unknown_name(field, value, catalog.samplers(), "sampler", hint)


def check_scheduler(field: str, value: str | None, catalog: Catalog, extra=()) -> None:
    if value is None or value in extra or value in catalog.schedulers():
        return
    raise unknown_name(field, value, catalog.schedulers(), "scheduler")


def check_model(field: str, value: str | None, catalog: Catalog, extra=()) -> None:
    if value is not None and value not in extra and not catalog.has_model(value):
        titles = [m.get("title") for m in catalog.models() if m.get("title")]
        raise unknown_name(field, value, titles, "model")


def check_vae(field: str, value: str | None, catalog: Catalog) -> None:
    if value is not None and not catalog.has_vae(value):
        raise unknown_name(field, value, ["Automatic", "None", *catalog.vaes()], "VAE")


def check_upscaler(field: str, value: str | None, catalog: Catalog, latent: bool = False) -> None:
    if value is None or (latent and value in catalog.latent_upscale_modes()):
        return
    valid = catalog.upscalers() + (catalog.latent_upscale_modes() if latent else [])
    if value not in valid:
        raise unknown_name(field, value, valid, "upscaler")
    flags = catalog.cmd_flags()
    if not model_files.can_look(flags):
        return
    entry = next(u for u in catalog.upscaler_entries() if u["name"] == value)
    lacking = model_files.upscaler_missing(entry, flags)
    if lacking:
        usable = [
            u["name"]
            for u in catalog.upscaler_entries()
            if not model_files.upscaler_missing(u, flags)
        ]
        raise _no_weights(
            field,
            f"upscaler '{value}'",
            "fall back to Lanczos",
            lacking,
            flags,
            f" Upscalers with their weights here: {_names(usable)}.",
        )


def check_face_restorer(field: str, name: str, catalog: Catalog) -> None:
    if name not in catalog.face_restorers():
        # A1111 restores nothing, silently, when the name matches no restorer.
        raise unknown_name(field, name, catalog.face_restorers(), "face restorer")
    flags = catalog.cmd_flags()
    if not model_files.can_look(flags):
        return
    lacking = model_files.missing(model_files.FACE_RESTORERS.get(name, ()), flags)
    if lacking:
        raise _no_weights(
            field, f"face restorer '{name}'", "return the image unrestored", lacking, flags
        )


def check_interrogator(model: str, catalog: Catalog) -> None:
    flags = model_files.interrogator_folders(catalog.cmd_flags())
    if not model_files.can_look(flags):
        return
    lacking = model_files.missing(model_files.INTERROGATORS[model], flags)
    if lacking:
        effect = "caption '<error>'" if model == "clip" else "fail with an IndexError"
        baked = " Images built with --build-arg BAKE_INTERROGATORS=1 have them all."
        raise _no_weights("model", f"interrogator '{model}'", effect, lacking, flags, baked)


def _no_weights(
    field: str, what: str, effect: str, lacking: list[Weights], flags: dict, more: str = ""
) -> JobError:
    files = "; ".join(w.how_to_add(flags) for w in lacking)
    return JobError(
        f"{field}: the weights of {what} are not on this worker, and offline A1111 would "
        f"{effect} without saying so. Missing: {files}; put them there (see the README's "
        f"'Offline start: what is and is not baked').{more}"
    )


def _names(names: list[str]) -> str:
    return ", ".join(f"'{n}'" for n in names) or "none"


def check_styles(styles: list[str] | None, catalog: Catalog) -> None:
    for name in styles or ():
        if not catalog.has_style(name):
            # A1111 skips a style it does not know without a word.
            raise unknown_name("styles", name, catalog.styles(), "style")


def check_face_restoration(payload: dict, catalog: Catalog) -> None:
    overrides = payload.get("override_settings") or {}
    restoring = payload.get("restore_faces")
    if restoring is None:
        restoring = overrides.get("face_restoration")
    if restoring:
        model = overrides.get("face_restoration_model") or catalog.options().get(
            "face_restoration_model"
        )
        check_face_restorer("restore_faces", model, catalog)


def check_option_values(options: dict, catalog: Catalog, field: str = "") -> None:
    prefix = f"{field}." if field else ""
    check_model(prefix + "sd_model_checkpoint", options.get("sd_model_checkpoint"), catalog)
    check_vae(prefix + "sd_vae", options.get("sd_vae"), catalog)


def check_option_names(
    field: str, names: Iterable[str], catalog: Catalog, settable: Collection[str] | None = None
) -> None:
    """Refuse the option names the worker will not send to A1111, saying why: a path (never),
    a name A1111 does not have, or (with `settable`, setOptions' allow-list) any other option."""
    for name in names:
        if settable is not None and name in settable:
            continue
        exists = name in catalog.option_names()
        option = f"'{name}' is an A1111 option (getOptions lists it) but" if exists else f"'{name}'"
        if is_path_option(name):
            raise JobError(
                f"{field}: {option} cannot be set through the worker: it names a path or "
                "directory, which no job may change"
            )
        if not exists:
            valid = settable or [n for n in catalog.option_names() if not is_path_option(n)]
            raise unknown_name(field, name, valid, "option")
        if settable is not None:
            raise JobError(
                f"{field}: {option} cannot be set through the worker: it is not on the "
                "allow-list of options safe to change for every later job on this worker "
                f"({', '.join(settable)}). For one job, use override_settings in txt2img or "
                "img2img."
            )


def check_override_settings(settings: dict, catalog: Catalog) -> None:
    check_option_names("override_settings", settings, catalog)
    # Options with a declared type are checked as strictly as in setOptions.
    typed = {k: v for k, v in settings.items() if k in OptionsInput.model_fields}
    validate(OptionsInput, typed)
    check_option_values(settings, catalog, "override_settings")
    check_upscaler(
        "override_settings.upscaler_for_img2img", settings.get("upscaler_for_img2img"), catalog
    )


def check_generation(payload: dict, catalog: Catalog) -> None:
    check_sampler("sampler_name", payload.get("sampler_name"), catalog)
    if "sampler_name" not in payload:
        check_sampler("sampler_index", payload.get("sampler_index"), catalog)
    check_sampler("hr_sampler_name", payload.get("hr_sampler_name"), catalog, (SAME_SAMPLER,))
    check_scheduler("scheduler", payload.get("scheduler"), catalog)
    check_scheduler("hr_scheduler", payload.get("hr_scheduler"), catalog, (SAME_SCHEDULER,))
    if not payload.get("disable_extra_networks"):
        for field in ("prompt", "hr_prompt"):
            check_loras(field, payload.get(field, ""), catalog)
    for field in ("refiner_checkpoint", "hr_checkpoint_name"):
        check_model(field, payload.get(field), catalog, (SAME_CHECKPOINT, "None"))
    if payload.get("enable_hr"):
        check_upscaler("hr_upscaler", payload.get("hr_upscaler"), catalog, latent=True)
    check_styles(payload.get("styles"), catalog)
    check_face_restoration(payload, catalog)
    if payload.get("override_settings"):
        check_override_settings(payload["override_settings"], catalog)


def check_extras(payload: dict, catalog: Catalog) -> None:
    second = payload.get("upscaler_2")
    if second not in (None, "None") and not payload.get("extras_upscaler_2_visibility"):
        # A1111 skips the second upscaler at visibility 0 (its default) without a word.
        raise JobError(
            f"upscaler_2: '{second}' would not be applied: extras_upscaler_2_visibility is 0 "
            "(A1111's default); set it above 0 (e.g. 0.5) to blend it in, or leave upscaler_2 out"
        )
    for field in ("upscaler_1", "upscaler_2"):
        check_upscaler(field, payload.get(field), catalog)
    for field, name in (("gfpgan_visibility", "GFPGAN"), ("codeformer_visibility", "CodeFormer")):
        if payload.get(field):
            check_face_restorer(field, name, catalog)
