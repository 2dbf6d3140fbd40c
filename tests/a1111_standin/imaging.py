"""Pictures: cheap seed-deterministic "generated" images, A1111's base64 encoding/decoding,
resizing, grids and reading the generation info back out of an image."""

from __future__ import annotations

import base64
import hashlib
import io
import math
import random

from PIL import Image, ImageOps, PngImagePlugin

from .errors import A1111Error, http_exception

# Bounded memory: larger requests fail like a GPU running out of memory would.
MAX_IMAGE_PIXELS = 4096 * 4096
MAX_REQUEST_PIXELS = 48 * 1024 * 1024


MAX_IMAGES = 1000


def check_count(count: int) -> None:
    if count > MAX_IMAGES:
        raise A1111Error(
            "OutOfMemoryError",
            f"CUDA out of memory: the stand-in makes at most {MAX_IMAGES} images per request",
        )


def check_pixels(width: int, height: int, count: int) -> None:
    pixels = width * height
    if pixels > MAX_IMAGE_PIXELS or pixels * max(count, 1) > MAX_REQUEST_PIXELS:
        gib = pixels * max(count, 1) * 4 * 4 / 2**30
        raise A1111Error(
            "OutOfMemoryError",
            f"CUDA out of memory. Tried to allocate {gib:.2f} GiB. GPU 0 has a total capacity "
            "of 23.65 GiB of which 1.02 GiB is free.",
        )


def _rng(seed: int, salt: str) -> random.Random:
    digest = hashlib.blake2b(f"{seed}\x00{salt}".encode(), digest_size=16).digest()
    return random.Random(int.from_bytes(digest, "big"))


def make_image(
    width: int,
    height: int,
    seed: int,
    prompt: str,
    init: Image.Image | None = None,
    strength: float = 1.0,
    sharpness: float = 1.0,
) -> Image.Image:
    """An RGB picture that depends only on its arguments: a prompt/seed-coloured gradient with
    seeded noise on top (so PNGs do not compress to nothing), blended onto `init` for img2img.
    `sharpness` < 1 leaves more noise in, like an interrupted sampler."""
    rng = _rng(seed, prompt)
    c1 = tuple(rng.randrange(40, 216) for _ in range(3))
    c2 = tuple(rng.randrange(40, 216) for _ in range(3))
    mask = Image.linear_gradient("L").rotate(rng.randrange(360)).resize((width, height))
    base = Image.composite(
        Image.new("RGB", (width, height), c1), Image.new("RGB", (width, height), c2), mask
    )
    noise = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    amount = 0.22 + 0.6 * (1.0 - max(0.0, min(1.0, sharpness)))
    out = Image.blend(base, noise, min(amount, 1.0))
    if init is not None:
        out = Image.blend(init.convert("RGB"), out, max(0.0, min(1.0, strength)))
    return out


def preview_image(image: Image.Image) -> Image.Image:
    return image.resize((max(1, image.width // 2), max(1, image.height // 2)))


def encode_image(image: Image.Image, samples_format, jpeg_quality) -> str:
    """A1111's encode_pil_to_base64: PNG with the image's text info as tEXt chunks, or
    JPEG/WEBP with the parameters as an EXIF UserComment, per opts.samples_format."""
    fmt = samples_format.lower()  # a non-string option fails like A1111 would (500)
    buf = io.BytesIO()
    if fmt == "png":
        meta = PngImagePlugin.PngInfo()
        used = False
        for key, value in image.info.items():
            if isinstance(key, str) and isinstance(value, str):
                meta.add_text(key, value)
                used = True
        image.save(buf, format="PNG", pnginfo=meta if used else None, compress_level=1)
    elif fmt in ("jpg", "jpeg", "webp"):
        if image.mode == "RGBA":
            image = image.convert("RGB")
        parameters = image.info.get("parameters") or ""
        exif = Image.Exif()
        exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + parameters.encode("utf_16_be")
        save_format = "WEBP" if fmt == "webp" else "JPEG"
        image.save(buf, format=save_format, exif=exif, quality=jpeg_quality)
    else:
        raise http_exception(500, "Invalid image format")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def decode_base64_to_image(encoding, forbid_local: bool = True) -> Image.Image:
    """A1111's decode_base64_to_image (URLs are never fetched by the stand-in)."""
    if encoding.startswith("http://") or encoding.startswith("https://"):
        host = encoding.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
        host = host.rsplit(":", 1)[0].strip("[]").lower()
        local = host in ("localhost", "::1", "0.0.0.0") or host.startswith(
            ("127.", "10.", "192.168.")
        )
        if forbid_local and local:
            raise http_exception(500, "Request to local resource not allowed")
        raise http_exception(500, "Invalid image url")
    if encoding.startswith("data:image/"):
        try:
            encoding = encoding.split(";")[1].split(",")[1]
        except IndexError:
            raise A1111Error("IndexError", "list index out of range") from None
    try:
        image = Image.open(io.BytesIO(base64.b64decode(encoding)))
    except Exception:
        raise http_exception(500, "Invalid encoded image") from None
    check_pixels(image.width, image.height, 1)  # bounded memory (A1111 would try)
    try:
        image.load()
    except Exception:
        raise http_exception(500, "Invalid encoded image") from None
    return image


def resize_image(resize_mode: int, im: Image.Image, width: int, height: int) -> Image.Image:
    """A1111's images.resize_image: 0 just resize, 1 crop and resize, else resize and fill."""
    im = im.convert("RGB")
    if resize_mode == 0 or resize_mode == 3:
        return im.resize((width, height), Image.Resampling.LANCZOS)
    if resize_mode == 1:
        return ImageOps.fit(im, (width, height), Image.Resampling.LANCZOS)
    ratio = width / height
    src_ratio = im.width / im.height
    src_w = width if ratio < src_ratio else im.width * height // im.height
    src_h = height if ratio >= src_ratio else im.height * width // im.width
    resized = im.resize((max(1, src_w), max(1, src_h)), Image.Resampling.LANCZOS)
    res = Image.new("RGB", (width, height))
    res.paste(resized, box=(width // 2 - src_w // 2, height // 2 - src_h // 2))
    return res


def image_grid(imgs: list[Image.Image], batch_size: int, n_rows, prevent_empty) -> Image.Image:
    if isinstance(n_rows, (int, float)) and n_rows > 0:
        rows = int(n_rows)
    elif n_rows == 0:
        rows = batch_size
    elif prevent_empty:
        rows = math.floor(math.sqrt(len(imgs)))
        while len(imgs) % rows != 0:
            rows -= 1
    else:
        rows = max(1, round(math.sqrt(len(imgs))))
    rows = max(1, min(rows, len(imgs)))
    cols = math.ceil(len(imgs) / rows)
    w, h = imgs[0].size
    grid = Image.new("RGB", (cols * w, rows * h), "black")
    for i, img in enumerate(imgs):
        grid.paste(img, box=(i % cols * w, i // cols * h))
    return grid


IGNORED_INFO_KEYS = {
    "jfif",
    "jfif_version",
    "jfif_unit",
    "jfif_density",
    "dpi",
    "exif",
    "loop",
    "background",
    "timestamp",
    "duration",
    "progressive",
    "progression",
    "icc_profile",
    "chromaticity",
    "photoshop",
}


def read_info_from_image(image: Image.Image) -> tuple[str | None, dict]:
    items = dict(image.info or {})
    geninfo = items.pop("parameters", None)
    if "exif" in items:
        try:
            comment = image.getexif().get_ifd(0x8769).get(0x9286, b"")
        except Exception:
            comment = b""
        if isinstance(comment, bytes) and comment:
            if comment.startswith(b"UNICODE\x00"):
                text = comment[8:].decode("utf_16_be", errors="ignore")
            else:
                text = comment[8:].decode("utf8", errors="ignore")
            if text:
                items["exif comment"] = text
                geninfo = text
    elif "comment" in items:
        comment = items["comment"]
        geninfo = comment.decode("utf8", errors="ignore") if isinstance(comment, bytes) else comment
    for key in IGNORED_INFO_KEYS:
        items.pop(key, None)
    return geninfo, items


def jsonable(value):
    """What FastAPI's jsonable_encoder makes of Pillow info values."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
