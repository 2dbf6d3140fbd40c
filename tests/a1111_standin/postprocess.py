"""The "extras" endpoints (upscaling), png-info and interrogate."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from PIL import Image

from . import catalog, imaging, infotext, schema
from .errors import A1111Error, http_exception

if TYPE_CHECKING:
    from .app import App


def _find_upscaler(name: Any, allow_none_entry: bool) -> str | None:
    if name == "None":
        name = None
    if name is None:
        return None
    if name in catalog.UPSCALER_NAMES and (allow_none_entry or name != "None"):
        return name
    raise A1111Error("AssertionError", f"could not find upscaler named {name}")


def _upscale(image: Image.Image, upscaler: str, scale: float) -> Image.Image:
    dest_w = int((image.width * scale) // 8 * 8)
    dest_h = int((image.height * scale) // 8 * 8)
    imaging.check_pixels(dest_w, dest_h, 1)
    if (dest_w, dest_h) == image.size:
        return image
    resample = Image.Resampling.NEAREST if upscaler == "Nearest" else Image.Resampling.LANCZOS
    return image.resize((dest_w, dest_h), resample)


def _postprocess_one(image: Image.Image, req: dict, enable_pnginfo: Any) -> tuple[Image.Image, str]:
    existing = dict(image.info or {})
    out = image.convert("RGB")
    info: dict[str, Any] = {}
    upscaler1 = _find_upscaler(req["upscaler_1"], allow_none_entry=True)
    if upscaler1 is not None:
        upscaler2 = _find_upscaler(req["upscaler_2"], allow_none_entry=False)
        mode = req["resize_mode"]
        if mode == 1:
            tw, th = req["upscaling_resize_w"], req["upscaling_resize_h"]
            scale = max(tw / out.width, th / out.height)
            info["Postprocess upscale to"] = f"{tw}x{th}"
        else:
            scale = req["upscaling_resize"]
            info["Postprocess upscale by"] = scale
        upscaled = _upscale(out, upscaler1, scale)
        info["Postprocess upscaler"] = upscaler1
        visibility = req["extras_upscaler_2_visibility"]
        if upscaler2 is not None and visibility > 0:
            second = _upscale(out, upscaler2, scale)
            if second.size != upscaled.size:
                second = second.resize(upscaled.size, Image.Resampling.LANCZOS)
            upscaled = Image.blend(upscaled, second, visibility)
            info["Postprocess upscaler 2"] = upscaler2
        if mode == 1 and req["upscaling_crop"]:
            cropped = Image.new("RGB", (tw, th))
            cropped.paste(
                upscaled, box=(tw // 2 - upscaled.width // 2, th // 2 - upscaled.height // 2)
            )
            upscaled = cropped
            info["Postprocess crop to"] = f"{upscaled.width}x{upscaled.height}"
        out = upscaled
    if req["gfpgan_visibility"] > 0:
        info["GFPGAN visibility"] = round(req["gfpgan_visibility"], 3)
    if req["codeformer_visibility"] > 0:
        info["CodeFormer visibility"] = round(req["codeformer_visibility"], 3)
        info["CodeFormer weight"] = round(req["codeformer_weight"], 3)
    text = ", ".join(
        k if k == v else f"{k}: {infotext.quote(v)}" for k, v in info.items() if v is not None
    )
    if enable_pnginfo:
        out.info = existing
        out.info["postprocessing"] = text
    return out, text


def _html(text: str) -> str:
    return "<p>" + "<br>\n".join(html.escape(x) for x in text.split("\n")) + "</p>"


def extras_single(app: App, raw: bytes, content_type: str | None) -> dict:
    req = schema.parse_model_body(schema.EXTRAS_SINGLE_FIELDS, raw, content_type)
    image = imaging.decode_base64_to_image(req["image"], app.forbid_local())
    with app.queue_lock:
        app.state.begin(job="extras")
        try:
            out, text = _postprocess_one(image, req, app.options.get("enable_pnginfo"))
        finally:
            app.state.end()
    fmt, quality = app.options.get("samples_format"), app.options.get("jpeg_quality")
    return {"html_info": _html(text), "image": imaging.encode_image(out, fmt, quality)}


def extras_batch(app: App, raw: bytes, content_type: str | None) -> dict:
    req = schema.parse_model_body(schema.EXTRAS_BATCH_FIELDS, raw, content_type)
    images = [
        imaging.decode_base64_to_image(item["data"], app.forbid_local())
        for item in req["imageList"]
    ]
    outputs, text = [], ""
    with app.queue_lock:
        app.state.begin(job="extras")
        try:
            for image in images:
                out, text = _postprocess_one(image, req, app.options.get("enable_pnginfo"))
                outputs.append(out)
        finally:
            app.state.end()
    fmt, quality = app.options.get("samples_format"), app.options.get("jpeg_quality")
    return {
        "html_info": _html(text),
        "images": [imaging.encode_image(o, fmt, quality) for o in outputs],
    }


def png_info(app: App, raw: bytes, content_type: str | None) -> dict:
    req = schema.parse_model_body(schema.PNGINFO_FIELDS, raw, content_type)
    image = imaging.decode_base64_to_image(req["image"].strip(), app.forbid_local())
    geninfo, items = imaging.read_info_from_image(image)
    geninfo = geninfo or ""
    return {
        "info": geninfo,
        "items": imaging.jsonable(items),
        "parameters": infotext.parse(geninfo),
    }


_COLOUR_WORDS = (
    (0, 0, 0, "black"),
    (255, 255, 255, "white"),
    (128, 128, 128, "grey"),
    (200, 40, 40, "red"),
    (40, 160, 60, "green"),
    (50, 80, 200, "blue"),
    (220, 200, 60, "yellow"),
    (150, 60, 170, "purple"),
    (230, 130, 40, "orange"),
    (60, 190, 190, "teal"),
)


def _colour_word(image: Image.Image) -> str:
    r, g, b = image.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))[:3]
    return min(_COLOUR_WORDS, key=lambda c: (c[0] - r) ** 2 + (c[1] - g) ** 2 + (c[2] - b) ** 2)[3]


def interrogate(app: App, raw: bytes, content_type: str | None) -> dict:
    req = schema.parse_model_body(schema.INTERROGATE_FIELDS, raw, content_type)
    image = imaging.decode_base64_to_image(req["image"], app.forbid_local()).convert("RGB")
    colour = _colour_word(image)
    with app.queue_lock:
        if req["model"] == "clip":
            app.state.begin(job="interrogate")
            try:
                caption = (
                    f"a blurry image of a {colour} background with a pattern of dots, "
                    "a digital rendering, abstract art, noise"
                )
            finally:
                app.state.end()
        elif req["model"] == "deepdanbooru":
            caption = f"abstract, {colour}_background, no_humans, simple_background"
        else:
            raise http_exception(404, "Model not found")
    return {"caption": caption}
