"""Incoming images: base64 strings (data: URIs accepted) checked to be real, bounded images."""

from __future__ import annotations

import base64
import binascii
import io
import re

import requests
from PIL import Image, UnidentifiedImageError
from runpod.serverless.utils import rp_ssrf

from .config import private_urls_allowed
from .errors import JobError

_DATA_URI = re.compile(r"^data:image/[\w.+-]+;base64,", re.IGNORECASE)
_URL = re.compile(r"^https?://", re.IGNORECASE)


def is_url(value: str) -> bool:
    return bool(_URL.match(value))


def check_url(value: str) -> None:
    # Plain http only where the SDK's switch allows private hosts (tests, same-VPC stores).
    if value.lower().startswith("http://") and not private_urls_allowed():
        raise ValueError("must be an https:// URL (or base64)")


def fetch_as_base64(field: str, url: str, max_bytes: int, timeout: float) -> str:
    """Download an image URL with the SDK's SSRF guard (no private or loopback hosts)."""
    try:
        with rp_ssrf.safe_get(url, timeout=timeout, max_bytes=max_bytes) as resp:
            if resp.status_code != 200:
                raise JobError(f"{field}: downloading {url} gave HTTP {resp.status_code}")
            data = b"".join(rp_ssrf.iter_content_capped(resp, 65536, max_bytes))
    except rp_ssrf.SSRFError as exc:
        raise JobError(f"{field}: refused to download {url}: {exc}") from None
    except requests.RequestException as exc:
        raise JobError(f"{field}: downloading {url} failed: {type(exc).__name__}") from None
    encoded = base64.b64encode(data).decode()
    try:
        check_base64_image(encoded, max_bytes)
    except ValueError as exc:
        raise JobError(f"{field}: the file at {url} {exc}") from None
    return encoded


def strip_data_uri(value: str) -> str:
    return _DATA_URI.sub("", value, count=1)


def check_base64_image(value: str, max_bytes: int) -> tuple[int, int]:
    """Return the (width, height) of a base64 image, or raise ValueError saying what is wrong."""
    data = strip_data_uri(value.strip())
    if not data:
        raise ValueError("is empty; expected a base64-encoded PNG/JPEG/WebP image")
    # 3 bytes per 4 characters: refuse oversized input before decoding it.
    if len(data) * 3 // 4 > max_bytes:
        raise ValueError(
            f"is larger than the image limit, MAX_IMAGE_BYTES ({max_bytes} bytes on this worker)"
        )
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
