"""Incoming images: base64 strings (data: URIs accepted) checked to be real, bounded images."""

from __future__ import annotations

import base64
import binascii
import io
import re

from PIL import Image, UnidentifiedImageError

_DATA_URI = re.compile(r"^data:image/[\w.+-]+;base64,", re.IGNORECASE)


def strip_data_uri(value: str) -> str:
    return _DATA_URI.sub("", value, count=1)


def check_base64_image(value: str, max_bytes: int) -> tuple[int, int]:
    """Return the (width, height) of a base64 image, or raise ValueError saying what is wrong."""
    data = strip_data_uri(value.strip())
    if not data:
        raise ValueError("is empty; expected a base64-encoded PNG/JPEG/WebP image")
    # 3 bytes per 4 characters: refuse oversized input before decoding it.
    if len(data) * 3 // 4 > max_bytes:
        raise ValueError(f"is larger than the {max_bytes // (1024 * 1024)} MB image limit")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(
            "is not valid base64 (a data:image/...;base64, prefix is allowed)"
        ) from exc
    try:
        with Image.open(io.BytesIO(raw)) as img:
            size = img.size
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError("is base64 but not a readable image (PNG, JPEG or WebP expected)") from exc
    return size
