"""Request bodies as A1111 v1.9.3 declares them, and validation the way its pydantic v1 models
and FastAPI 0.94 do it (lax coercion, error list with loc/msg/type, unknown fields ignored).

The field tables below were written from A1111's OpenAPI document; a test compares them with
the real document when it is available.
"""

from __future__ import annotations

import copy
import email.message
import json
from dataclasses import dataclass, field
from typing import Any

REQUIRED = object()  # marker: the field has no default

# kinds: "str", "int", "float", "bool", "list", "list[str]", "dict", "any", "literal"


@dataclass(frozen=True)
class Field:
    name: str
    kind: str
    default: Any = None
    nullable: bool = True  # Optional[...] in the model: null is accepted as is
    ge: float | None = None
    le: float | None = None
    gt: float | None = None
    choices: tuple = ()  # for kind "literal"
    extra: dict = field(default_factory=dict)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def _f(name: str, kind: str, default: Any = None, **kw: Any) -> Field:
    return Field(name, kind, default, **kw)


# Fields common to both generation requests, in model order, up to "comments".
def _common_head(denoising_default: float | None) -> list[Field]:
    return [
        _f("prompt", "str", ""),
        _f("negative_prompt", "str", ""),
        _f("styles", "list[str]"),
        _f("seed", "int", -1),
        _f("subseed", "int", -1),
        _f("subseed_strength", "float", 0),
        _f("seed_resize_from_h", "int", -1),
        _f("seed_resize_from_w", "int", -1),
        _f("sampler_name", "str"),
        _f("scheduler", "str"),
        _f("batch_size", "int", 1),
        _f("n_iter", "int", 1),
        _f("steps", "int", 50),
        _f("cfg_scale", "float", 7.0),
        _f("width", "int", 512),
        _f("height", "int", 512),
        _f("restore_faces", "bool"),
        _f("tiling", "bool"),
        _f("do_not_save_samples", "bool", False),
        _f("do_not_save_grid", "bool", False),
        _f("eta", "float"),
        _f("denoising_strength", "float", denoising_default),
        _f("s_min_uncond", "float"),
        _f("s_churn", "float"),
        _f("s_tmax", "float"),
        _f("s_tmin", "float"),
        _f("s_noise", "float"),
        _f("override_settings", "dict"),
        _f("override_settings_restore_afterwards", "bool", True),
        _f("refiner_checkpoint", "str"),
        _f("refiner_switch_at", "float"),
        _f("disable_extra_networks", "bool", False),
        _f("firstpass_image", "str"),
        _f("comments", "dict"),
    ]


def _common_tail(include_init_images: bool) -> list[Field]:
    # A1111's added API fields keep their declared type (not Optional): null is refused where
    # the default is not None (seen on the real engine: send_images: null is a 422).
    nn = {"nullable": False}
    tail = [_f("force_task_id", "str"), _f("sampler_index", "str", "Euler", **nn)]
    if include_init_images:
        tail.append(_f("include_init_images", "bool", False, **nn))
    tail += [
        _f("script_name", "str"),
        _f("script_args", "list", [], **nn),
        _f("send_images", "bool", True, **nn),
        _f("save_images", "bool", False, **nn),
        _f("alwayson_scripts", "dict", {}, **nn),
        _f("infotext", "str"),
    ]
    return tail


TXT2IMG_FIELDS: tuple[Field, ...] = (
    *_common_head(None),
    _f("enable_hr", "bool", False),
    _f("firstphase_width", "int", 0),
    _f("firstphase_height", "int", 0),
    _f("hr_scale", "float", 2.0),
    _f("hr_upscaler", "str"),
    _f("hr_second_pass_steps", "int", 0),
    _f("hr_resize_x", "int", 0),
    _f("hr_resize_y", "int", 0),
    _f("hr_checkpoint_name", "str"),
    _f("hr_sampler_name", "str"),
    _f("hr_scheduler", "str"),
    _f("hr_prompt", "str", ""),
    _f("hr_negative_prompt", "str", ""),
    *_common_tail(include_init_images=False),
)

IMG2IMG_FIELDS: tuple[Field, ...] = (
    *_common_head(0.75),
    _f("init_images", "list"),
    _f("resize_mode", "int", 0),
    _f("image_cfg_scale", "float"),
    _f("mask", "str"),
    _f("mask_blur_x", "int", 4),
    _f("mask_blur_y", "int", 4),
    _f("mask_blur", "int"),
    _f("mask_round", "bool", True),
    _f("inpainting_fill", "int", 0),
    _f("inpaint_full_res", "bool", True),
    _f("inpaint_full_res_padding", "int", 0),
    _f("inpainting_mask_invert", "int", 0),
    _f("initial_noise_multiplier", "float"),
    _f("latent_mask", "str"),
    *_common_tail(include_init_images=True),
)


def _extras_base() -> list[Field]:
    nn = {"nullable": False}
    return [
        _f("resize_mode", "literal", 0, choices=(0, 1), **nn),
        _f("show_extras_results", "bool", True, **nn),
        _f("gfpgan_visibility", "float", 0, ge=0, le=1, **nn),
        _f("codeformer_visibility", "float", 0, ge=0, le=1, **nn),
        _f("codeformer_weight", "float", 0, ge=0, le=1, **nn),
        _f("upscaling_resize", "float", 2, gt=0, **nn),
        _f("upscaling_resize_w", "int", 512, ge=1, **nn),
        _f("upscaling_resize_h", "int", 512, ge=1, **nn),
        _f("upscaling_crop", "bool", True, **nn),
        _f("upscaler_1", "str", "None", **nn),
        _f("upscaler_2", "str", "None", **nn),
        _f("extras_upscaler_2_visibility", "float", 0, ge=0, le=1, **nn),
        _f("upscale_first", "bool", False, **nn),
    ]


EXTRAS_SINGLE_FIELDS: tuple[Field, ...] = tuple(
    [*_extras_base(), _f("image", "str", "", nullable=False)]
)
EXTRAS_BATCH_FIELDS: tuple[Field, ...] = tuple(
    [*_extras_base(), _f("imageList", "list[FileData]", REQUIRED, nullable=False)]
)
FILEDATA_FIELDS: tuple[Field, ...] = (
    _f("data", "str", REQUIRED, nullable=False),
    _f("name", "str", REQUIRED, nullable=False),
)
PNGINFO_FIELDS: tuple[Field, ...] = (_f("image", "str", REQUIRED, nullable=False),)
INTERROGATE_FIELDS: tuple[Field, ...] = (
    _f("image", "str", "", nullable=False),
    _f("model", "str", "clip", nullable=False),
)

# route -> field table; the schema test checks these against the OpenAPI document
REQUEST_MODELS: dict[str, tuple[Field, ...]] = {
    "/sdapi/v1/txt2img": TXT2IMG_FIELDS,
    "/sdapi/v1/img2img": IMG2IMG_FIELDS,
    "/sdapi/v1/extra-single-image": EXTRAS_SINGLE_FIELDS,
    "/sdapi/v1/extra-batch-images": EXTRAS_BATCH_FIELDS,
    "/sdapi/v1/png-info": PNGINFO_FIELDS,
    "/sdapi/v1/interrogate": INTERROGATE_FIELDS,
}


# --- errors -------------------------------------------------------------------------------------


class RequestValidationError(Exception):
    """FastAPI's 422: {"detail": [errors]}."""

    def __init__(self, errors: list[dict]):
        super().__init__("request validation failed")
        self.errors = errors


class BodyParseError(Exception):
    """Body bytes that are not valid UTF-8 JSON text at all (FastAPI answers 400)."""


def _err(loc: list, msg: str, typ: str, ctx: dict | None = None) -> dict:
    out: dict[str, Any] = {"loc": loc, "msg": msg, "type": typ}
    if ctx is not None:
        out["ctx"] = ctx
    return out


class _Invalid(Exception):
    def __init__(self, msg: str, typ: str, ctx: dict | None = None, sub: list | None = None):
        super().__init__(msg)
        self.msg, self.typ, self.ctx = msg, typ, ctx
        self.sub = sub  # a list of (loc suffix, msg, typ, ctx) for nested errors


MAX_STR_INT = 4300

BOOL_TRUE = {1, "1", "on", "t", "true", "y", "yes"}
BOOL_FALSE = {0, "0", "off", "f", "false", "n", "no"}


def coerce_int(v: Any) -> int:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, (str, bytes)) and len(v) > MAX_STR_INT:
        raise _Invalid("value is not a valid integer", "type_error.integer")
    try:
        return int(v)
    except (TypeError, ValueError, OverflowError):
        raise _Invalid("value is not a valid integer", "type_error.integer") from None


def coerce_float(v: Any) -> float:
    if isinstance(v, float):
        return v
    try:
        return float(v)
    except (TypeError, ValueError, OverflowError):
        raise _Invalid("value is not a valid float", "type_error.float") from None


def coerce_str(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, (int, float)):  # bool is an int: True -> "True", as pydantic v1 does
        return str(v)
    if isinstance(v, (bytes, bytearray)):
        return v.decode()
    raise _Invalid("str type expected", "type_error.str")


def coerce_bool(v: Any) -> bool:
    if v is True or v is False:
        return v
    if isinstance(v, bytes):
        v = v.decode(errors="replace")
    if isinstance(v, str):
        v = v.lower()
    try:
        if v in BOOL_TRUE:
            return True
        if v in BOOL_FALSE:
            return False
    except TypeError:
        pass
    raise _Invalid("value could not be parsed to a boolean", "type_error.bool")


def coerce_dict(v: Any) -> dict:
    if isinstance(v, dict):
        out = v
    else:
        try:
            out = dict(v)
        except (TypeError, ValueError):
            raise _Invalid("value is not a valid dict", "type_error.dict") from None
    fixed = {}
    for key, value in out.items():
        try:
            fixed[coerce_str(key)] = value
        except _Invalid:
            raise _Invalid("value is not a valid dict", "type_error.dict") from None
    return fixed


def _coerce(fld: Field, v: Any) -> Any:
    kind = fld.kind
    if kind == "any":
        return v
    if kind == "int":
        value: Any = coerce_int(v)
    elif kind == "float":
        value = coerce_float(v)
    elif kind == "str":
        return coerce_str(v)
    elif kind == "bool":
        return coerce_bool(v)
    elif kind == "dict":
        return coerce_dict(v)
    elif kind == "literal":
        allowed = {c: c for c in fld.choices}
        try:
            return allowed[v]
        except (KeyError, TypeError):
            permitted = ", ".join(repr(c) for c in fld.choices)
            raise _Invalid(
                f"unexpected value; permitted: {permitted}",
                "value_error.const",
                {"given": v, "permitted": list(fld.choices)},
            ) from None
    elif kind.startswith("list"):
        if not isinstance(v, list):
            raise _Invalid("value is not a valid list", "type_error.list")
        if kind == "list":
            return list(v)
        return _coerce_list_items(kind, v)
    else:  # pragma: no cover - table error
        raise AssertionError(kind)
    # number constraints (int and float)
    if fld.gt is not None and not value > fld.gt:
        raise _Invalid(
            f"ensure this value is greater than {fld.gt}",
            "value_error.number.not_gt",
            {"limit_value": fld.gt},
        )
    if fld.ge is not None and not value >= fld.ge:
        raise _Invalid(
            f"ensure this value is greater than or equal to {fld.ge}",
            "value_error.number.not_ge",
            {"limit_value": fld.ge},
        )
    if fld.le is not None and not value <= fld.le:
        raise _Invalid(
            f"ensure this value is less than or equal to {fld.le}",
            "value_error.number.not_le",
            {"limit_value": fld.le},
        )
    return value


def _coerce_list_items(kind: str, items: list) -> list:
    out, sub = [], []
    for i, item in enumerate(items):
        try:
            if kind == "list[str]":
                if item is None:
                    raise _Invalid("none is not an allowed value", "type_error.none.not_allowed")
                out.append(coerce_str(item))
            else:  # list[FileData]
                values, errors = validate_model(FILEDATA_FIELDS, item, loc=[i])
                sub.extend(errors)
                out.append(values)
        except _Invalid as exc:
            sub.append(_err([i], exc.msg, exc.typ, exc.ctx))
    if sub:
        raise _Invalid("", "", sub=sub)
    return out


def defaults(fields: tuple[Field, ...]) -> dict:
    return {f.name: copy.deepcopy(f.default) for f in fields if not f.required}


def validate_model(fields: tuple[Field, ...], body: Any, loc: list | None = None):
    """Validate `body` like pydantic v1 `Model.validate`: returns (values, errors)."""
    loc = list(loc or [])
    if not isinstance(body, dict):
        try:
            body = dict(body)
        except (TypeError, ValueError):
            return None, [_err(loc, "value is not a valid dict", "type_error.dict")]
    if any(not isinstance(k, str) for k in body):
        # Model(**{1: 2}) fails outside of pydantic's own checks.
        raise TypeError("keywords must be strings")
    values: dict[str, Any] = {}
    errors: list[dict] = []
    for fld in fields:
        if fld.name not in body:
            if fld.required:
                errors.append(_err([*loc, fld.name], "field required", "value_error.missing"))
            else:
                values[fld.name] = copy.deepcopy(fld.default)
            continue
        raw = body[fld.name]
        if raw is None:
            if fld.nullable:
                values[fld.name] = None
            else:
                errors.append(
                    _err(
                        [*loc, fld.name],
                        "none is not an allowed value",
                        "type_error.none.not_allowed",
                    )
                )
            continue
        try:
            values[fld.name] = _coerce(fld, raw)
        except _Invalid as exc:
            if exc.sub is not None:
                for e in exc.sub:
                    errors.append({**e, "loc": [*loc, fld.name, *e["loc"]]})
            else:
                errors.append(_err([*loc, fld.name], exc.msg, exc.typ, exc.ctx))
    return (values if not errors else None), errors


# --- request bodies -------------------------------------------------------------------------


def read_json_body(raw: bytes, content_type: str | None) -> Any:
    """The body FastAPI 0.94 hands to validation; raises RequestValidationError for missing
    body or invalid JSON and BodyParseError for undecodable bytes."""
    if not raw:
        raise RequestValidationError([_err(["body"], "field required", "value_error.missing")])
    is_json = True
    if content_type:
        msg = email.message.Message()
        msg["content-type"] = content_type
        is_json = msg.get_content_maintype() == "application" and (
            msg.get_content_subtype() == "json" or msg.get_content_subtype().endswith("+json")
        )
    if not is_json:
        return raw  # validated as bytes: never a valid object
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        ctx = {
            "msg": exc.msg,
            "doc": exc.doc,
            "pos": exc.pos,
            "lineno": exc.lineno,
            "colno": exc.colno,
        }
        raise RequestValidationError(
            [_err(["body", exc.pos], str(exc), "value_error.jsondecode", ctx)]
        ) from None
    except Exception as exc:  # e.g. UnicodeDecodeError, huge integers
        raise BodyParseError(str(exc)) from None
    if value is None:
        raise RequestValidationError([_err(["body"], "field required", "value_error.missing")])
    return value


def parse_model_body(fields: tuple[Field, ...], raw: bytes, content_type: str | None) -> dict:
    body = read_json_body(raw, content_type)
    values, errors = validate_model(fields, body, loc=["body"])
    if errors:
        raise RequestValidationError(errors)
    return values


def parse_dict_body(raw: bytes, content_type: str | None) -> dict:
    """A body declared as `Dict[str, Any]` (POST /sdapi/v1/options)."""
    body = read_json_body(raw, content_type)
    try:
        return coerce_dict(body)
    except _Invalid as exc:
        raise RequestValidationError([_err(["body"], exc.msg, exc.typ)]) from None


def parse_query_bool(query: dict[str, list[str]], name: str, default: bool) -> bool:
    if name not in query:
        return default
    try:
        return coerce_bool(query[name][-1])
    except _Invalid as exc:
        raise RequestValidationError([_err(["query", name], exc.msg, exc.typ)]) from None
