"""Generated images on their way out: format, per-image details, uploads and the size guard."""

from __future__ import annotations

import base64
import io
import json
import struct
from dataclasses import dataclass

from PIL import ExifTags, Image

from . import storage
from .config import Bucket
from .errors import JobError

OUTPUT_FIELDS = ("output_format", "output_quality", "output_lossless", "output")
_MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
_EXT = {"png": "png", "jpeg": "jpg", "webp": "webp"}


@dataclass(frozen=True)
class OutputOptions:
    output_format: str = "png"
    output_quality: int = 90
    output_lossless: bool = False
    output: str = "base64"

    @classmethod
    def pop_from(cls, payload: dict) -> OutputOptions:
        """Take the worker's own output fields out of an A1111 payload."""
        return cls(**{k: payload.pop(k) for k in OUTPUT_FIELDS if k in payload})


def png_size(b64: str) -> tuple[int, int] | None:
    """Width and height from a base64 PNG's header, without decoding the image."""
    head = base64.b64decode(b64[:32] + "=" * (-len(b64[:32]) % 4))
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def transcode(b64_png: str, opts: OutputOptions, infotext: str | None) -> tuple[bytes, tuple]:
    with Image.open(io.BytesIO(base64.b64decode(b64_png))) as img:
        img.load()
        size = img.size
        image = img.convert("RGB") if opts.output_format == "jpeg" else img
        exif = Image.Exif()
        if infotext:
            # Where A1111 itself puts the parameters in JPEG/WebP: EXIF UserComment.
            user_comment = b"UNICODE\x00" + infotext.encode("utf-16-be")
            exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.UserComment] = user_comment
        buf = io.BytesIO()
        params = {"quality": opts.output_quality, "exif": exif.tobytes()}
        if opts.output_format == "webp":
            params["lossless"] = opts.output_lossless
        image.save(buf, "JPEG" if opts.output_format == "jpeg" else "WEBP", **params)
    return buf.getvalue(), size


def encode(result: dict, opts: OutputOptions) -> tuple[dict, list]:
    """The images in the asked format, with their details; also the raw bytes where made."""
    info = result.get("info") if isinstance(result.get("info"), dict) else {}
    seeds = info.get("all_seeds") or []
    infotexts = info.get("infotexts") or []
    images, details, blobs = [], [], []
    for i, b64 in enumerate(result.get("images") or []):
        if opts.output_format == "png":  # A1111's own bytes, untouched
            data, size = None, png_size(b64)
        else:
            infotext = infotexts[i] if i < len(infotexts) else None
            data, size = transcode(b64, opts, infotext)
            b64 = base64.b64encode(data).decode()
        images.append(b64)
        blobs.append(data)
        width, height = size or (None, None)
        seed = seeds[i] if i < len(seeds) else None
        details.append(
            {"seed": seed, "format": opts.output_format, "width": width, "height": height}
        )
    out = {**result, "images": images, "image_details": details, "output": "base64"}
    return out, blobs


@dataclass
class OutputHandler:
    max_result_bytes: int
    bucket: Bucket | None
    bucket_problem: str | None = None

    def check(self, opts: OutputOptions) -> None:
        """Before anything is generated: output: 'url' needs somewhere to upload to."""
        if opts.output == "url" and self.bucket is None:
            raise self._no_bucket()

    def _no_bucket(self) -> JobError:
        why = self.bucket_problem or (
            "BUCKET_ENDPOINT_URL, BUCKET_ACCESS_KEY_ID, BUCKET_SECRET_ACCESS_KEY and BUCKET_NAME "
            "are not set"
        )
        return JobError(
            f"output: 'url' needs a bucket, and this worker has none ({why}): ask for "
            "output: 'base64' (the default), or set the four variables"
        )

    def finish(self, job_id: str, result: dict, opts: OutputOptions) -> dict:
        out, blobs = encode(result, opts)
        size = result_size(out)
        fits = size <= self.max_result_bytes
        if opts.output == "url":
            try:
                return self._upload(job_id, out, blobs, opts)
            except JobError as exc:
                if not fits:
                    raise
                # The upload failed, the images need not be lost: they fit inline. RunPod
                # passes output on beside an error; the SDK's local server drops it.
                raise JobError(
                    f"{exc.message}. On RunPod the images come back as base64 in this job's "
                    "output, beside this error; the SDK's local test server shows only the error",
                    extra=out,
                ) from exc
        if fits:
            return out
        if self.bucket is None:
            limit = self.max_result_bytes / 1e6
            raise JobError(
                f"the result would be {size / 1e6:.1f} MB, over the {limit:.1f} MB RunPod result "
                "limit (MAX_RESULT_BYTES): ask for output: 'url' (needs a bucket), "
                "output_format: 'webp' or 'jpeg', or fewer or smaller images"
            )
        out = self._upload(job_id, out, blobs, opts)
        out["note"] = (
            f"the result would have been {size / 1e6:.1f} MB, over the "
            f"{self.max_result_bytes / 1e6:.1f} MB limit, so the images were uploaded"
        )
        return out

    def _upload(self, job_id: str, out: dict, blobs: list, opts: OutputOptions) -> dict:
        if self.bucket is None:
            raise self._no_bucket()
        urls = []
        for i, (b64, data) in enumerate(zip(out["images"], blobs, strict=True)):
            data = data if data is not None else base64.b64decode(b64)
            key = f"{job_id}/{i}.{_EXT[opts.output_format]}"
            urls.append(storage.upload(self.bucket, key, data, _MIME[opts.output_format]))
        uploaded = {**out, "images": urls, "output": "url"}
        if out.get("controlnet_maps"):
            # The maps go with the images: inline they could outgrow the result limit alone.
            uploaded["controlnet_maps"] = [
                storage.upload(
                    self.bucket,
                    f"{job_id}/controlnet-map-{i}.png",
                    base64.b64decode(b64),
                    "image/png",
                )
                for i, b64 in enumerate(out["controlnet_maps"])
            ]
        return uploaded


def result_size(out: dict) -> int:
    """The size of the JSON RunPod will carry, without serialising the images again."""
    images = out.get("images") or []
    rest = {k: v for k, v in out.items() if k != "images"}
    return sum(len(s) + 4 for s in images) + len(json.dumps(rest, default=str)) + 32
