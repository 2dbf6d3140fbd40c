"""The settings A1111 keeps in `shared.opts`: a realistic subset of v1.9.3's options with their
real defaults and OpenAPI types, and the in-memory store behind GET/POST /sdapi/v1/options.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from . import schema

# (name, OpenAPI type or None for untyped, default); order as A1111 lists them
OPTIONS: tuple[tuple[str, str | None, Any], ...] = (
    ("samples_save", "boolean", True),
    ("samples_format", "string", "png"),
    ("samples_filename_pattern", None, ""),
    ("save_images_add_number", "boolean", True),
    ("grid_save", "boolean", True),
    ("grid_format", "string", "png"),
    ("grid_only_if_multiple", "boolean", True),
    ("grid_prevent_empty_spots", None, False),
    ("n_rows", "number", -1),
    ("jpeg_quality", "number", 80),
    ("webp_lossless", None, False),
    ("temp_dir", None, ""),
    ("outdir_samples", None, ""),
    ("outdir_txt2img_samples", "string", "outputs/txt2img-images"),
    ("outdir_img2img_samples", "string", "outputs/img2img-images"),
    ("outdir_extras_samples", "string", "outputs/extras-images"),
    ("outdir_grids", None, ""),
    ("outdir_txt2img_grids", "string", "outputs/txt2img-grids"),
    ("outdir_img2img_grids", "string", "outputs/img2img-grids"),
    ("outdir_save", "string", "log/images"),
    ("outdir_init_images", "string", "outputs/init-images"),
    ("save_to_dirs", "boolean", True),
    ("upscaler_for_img2img", None, None),
    ("face_restoration", None, False),
    ("face_restoration_model", "string", "CodeFormer"),
    ("code_former_weight", "number", 0.5),
    ("api_enable_requests", "boolean", True),
    ("api_forbid_local_requests", "boolean", True),
    ("api_useragent", None, ""),
    ("sd_model_checkpoint", None, None),
    ("sd_checkpoints_limit", "number", 1),
    ("sd_checkpoints_keep_in_cpu", "boolean", True),
    ("sd_unet", "string", "Automatic"),
    ("emphasis", "string", "Original"),
    ("enable_batch_seeds", "boolean", True),
    ("CLIP_stop_at_last_layers", "number", 1),
    ("randn_source", "string", "GPU"),
    ("tiling", None, False),
    ("sd_vae", "string", "Automatic"),
    ("sd_vae_encode_method", "string", "Full"),
    ("sd_vae_decode_method", "string", "Full"),
    ("inpainting_mask_weight", "number", 1.0),
    ("initial_noise_multiplier", "number", 1.0),
    ("img2img_fix_steps", None, False),
    ("img2img_background_color", "string", "#ffffff"),
    ("cross_attention_optimization", "string", "Automatic"),
    ("s_min_uncond", None, 0.0),
    ("token_merging_ratio", None, 0.0),
    ("token_merging_ratio_img2img", None, 0.0),
    ("token_merging_ratio_hr", None, 0.0),
    ("fp8_storage", "string", "Disable"),
    ("return_grid", "boolean", True),
    ("interrupt_after_current", "boolean", True),
    ("quicksettings_list", "array", ["sd_model_checkpoint"]),
    ("enable_pnginfo", "boolean", True),
    ("add_model_name_to_info", "boolean", True),
    ("add_model_hash_to_info", "boolean", True),
    ("add_vae_name_to_info", "boolean", True),
    ("add_vae_hash_to_info", "boolean", True),
    ("add_version_to_infotext", "boolean", True),
    ("live_previews_enable", "boolean", True),
    ("show_progress_every_n_steps", "number", 10),
    ("eta_ancestral", "number", 1.0),
    ("s_noise", "number", 1.0),
    ("eta_noise_seed_delta", None, 0),
    ("sd_noise_schedule", "string", "Default"),
    ("sd_checkpoint_hash", None, ""),
    ("sd_lora", "string", "None"),
    ("lora_add_hashes_to_infotext", "boolean", True),
    ("enable_prompt_comments", "boolean", True),
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
                if name in self._data:
                    out[name] = _response_value(name, self._data[name])
                else:
                    out[name] = copy.deepcopy(default)
            return out
