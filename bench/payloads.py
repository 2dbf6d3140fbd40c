"""The job inputs and the fixed A1111 answers the stand-in serves for the benchmarks.

The images are realistic in size: a smooth gradient under low-amplitude noise, which PNG
compresses about as much as a generated picture (~1.1 bytes per pixel), so four 1024x1024
PNGs make ~6.2 MB of base64, one 512x512 ~0.4 MB. Built once per run (~0.5 s per 1024 image).
"""

from __future__ import annotations

import base64
import functools
import io
import random
from typing import Any

from PIL import Image, ImageChops

TXT2IMG = "/sdapi/v1/txt2img"
NOISE_MASK = 0x03  # two bits of noise per channel


def job_input(size: int, batch_size: int, steps: int = 20) -> dict:
    """The A1111 txt2img payload of a job (also the baseline's request body)."""
    return {
        "prompt": "a photo of an astronaut riding a horse on the moon, detailed",
        "negative_prompt": "blurry, low quality",
        "seed": 1234,
        "sampler_name": "Euler a",
        "steps": steps,
        "cfg_scale": 7,
        "width": size,
        "height": size,
        "batch_size": batch_size,
    }


SMALL = {"size": 512, "batch_size": 1}
LARGE = {"size": 1024, "batch_size": 4}


def png_b64(size: int, seed: int) -> str:
    rng = random.Random(seed)
    table = bytes(i & NOISE_MASK for i in range(256))
    noise = Image.frombytes("RGB", (size, size), rng.randbytes(size * size * 3).translate(table))
    ramp = Image.linear_gradient("L").resize((size, size))
    base = Image.merge("RGB", (ramp, ramp.rotate(90), ramp.rotate(180 + seed % 90)))
    buf = io.BytesIO()
    ImageChops.add(base, noise).save(buf, "PNG")  # Pillow's defaults, as A1111 saves
    return base64.b64encode(buf.getvalue()).decode()


@functools.cache
def images(size: int, count: int) -> tuple[str, ...]:
    return tuple(png_b64(size, seed) for seed in range(count))


def fixed_answer(shape: dict, standin_answer: dict) -> dict:
    """A1111's txt2img answer for `shape`: `parameters` and `info` as the stand-in gives them
    (asked with send_images=false), the images built here."""
    parameters = dict(standin_answer.get("parameters") or {})
    parameters["send_images"] = True
    return {
        "images": list(images(shape["size"], shape["batch_size"])),
        "parameters": parameters,
        "info": standin_answer.get("info"),
    }


def answer_size(answer: dict) -> int:
    return sum(len(s) for s in answer["images"])


def describe(shape: dict) -> str:
    n = shape["batch_size"]
    return f"{n}x {shape['size']}x{shape['size']} PNG"


def check_output(output: Any, shape: dict) -> str | None:
    """Why a worker's output is not the fixed answer for `shape` (None when it is)."""
    if not isinstance(output, dict):
        return f"output is {type(output).__name__}, not an object: {str(output)[:300]}"
    if "images" not in output:
        return f"no images in the output: {str(output)[:300]}"
    if list(output["images"]) != list(images(shape["size"], shape["batch_size"])):
        return "the images differ from the fixed answer"
    return None


def check_count(output: Any, shape: dict) -> str | None:
    """Why a real A1111's output through the worker is not `shape` (None when it is)."""
    if not isinstance(output, dict) or not isinstance(output.get("images"), list):
        return f"no images in the output: {str(output)[:300]}"
    if len(output["images"]) < shape["batch_size"]:  # (A1111 may add a grid)
        return f"{len(output['images'])} images, expected {shape['batch_size']}"
    return None
