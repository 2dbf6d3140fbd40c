"""What the real A1111 accepts and then silently skips is refused by the worker first.

Each case is sent twice: straight to A1111, to show that it answers 200 without doing the work
(so the refusal is needed), then through the worker, which must refuse it before A1111 sees it,
naming what is missing and where it goes. The engine has the R-ESRGAN 4x+, CodeFormer, GFPGAN
and ADetailer stand-ins of tests/engine/tool_weights.py (tests/real/test_real_tools.py shows them
run), and no weights for the other upscalers (SwinIR, the Anime6B R-ESRGAN...) or the
interrogators; a restorer's file is moved away for the time of its test.
"""

from __future__ import annotations

import base64
import contextlib
import io
from pathlib import Path

import pytest
import requests
from PIL import Image

from tests.helpers import png_b64

SMALL = {"prompt": "a lighthouse", "width": 64, "height": 64, "steps": 1, "seed": 3}


def direct(real, route: str, body: dict) -> dict:
    resp = requests.post(real.webui_url + route, json=body, timeout=300)
    assert resp.status_code == 200, resp.text[:300]
    return resp.json()


def refused(real, job: dict) -> str:
    answer = real.runsync(job)
    assert answer["status"] == "FAILED", answer
    assert "refresh_worker" not in answer and "stopPod" not in answer
    return answer["error"]


def pixels(b64: str) -> bytes:
    return Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB").tobytes()


def requests_seen(real, route: str) -> int:
    return real.requests_logged(route)


def test_an_upscaler_without_weights_is_lanczos_on_a1111_and_refused_here(real):
    image = png_b64(32, 32, (10, 200, 40))
    noisy = _noise_png(32)
    body = {"image": noisy, "upscaling_resize": 2}
    swinir = direct(real, "/sdapi/v1/extra-single-image", {**body, "upscaler_1": "SwinIR 4x"})
    lanczos = direct(real, "/sdapi/v1/extra-single-image", {**body, "upscaler_1": "Lanczos"})
    assert pixels(swinir["image"]) == pixels(lanczos["image"])  # the silent fallback
    assert "SwinIR 4x" in swinir["html_info"]
    before = requests_seen(real, "/sdapi/v1/extra-single-image")
    error = refused(real, {"api": "extras", "image": image, "upscaler_1": "SwinIR 4x"})
    assert "upscaler_1" in error and "SwinIR_4x.pth" in error
    assert "models/SwinIR" in error and "fall back to Lanczos" in error
    # What can be used instead: the built-in ones and the R-ESRGAN whose weights are here.
    assert "'Lanczos'" in error and "'R-ESRGAN 4x+'" in error
    assert "'R-ESRGAN 4x+ Anime6B'" not in error.split("Upscalers with their weights here")[1]
    assert requests_seen(real, "/sdapi/v1/extra-single-image") == before


def test_a_hires_fix_with_an_upscaler_without_weights_is_refused(real):
    job = {
        **SMALL,
        "enable_hr": True,
        "hr_scale": 1.5,
        "hr_upscaler": "R-ESRGAN 4x+ Anime6B",
        "denoising_strength": 0.5,
        "hr_second_pass_steps": 1,
    }
    done = direct(real, "/sdapi/v1/txt2img", job)
    assert "Hires upscaler: R-ESRGAN 4x+ Anime6B" in done["info"]  # the infotext claims it
    error = refused(real, job)
    assert "hr_upscaler" in error and "RealESRGAN_x4plus_anime_6B.pth" in error
    # A latent mode needs no weights.
    answer = real.runsync({**job, "hr_upscaler": "Latent"})
    assert answer["status"] == "COMPLETED", answer


RESTORER_FILES = {
    "CodeFormer": "models/Codeformer/codeformer-v0.1.0.pth",
    "GFPGAN": "models/GFPGAN/GFPGANv1.4.pth",
}


@contextlib.contextmanager
def moved_away(real, restorer: str):
    """The restorer's weights out of A1111's sight for one test (the engine lock is held)."""
    path = Path(real.engine) / "webui" / RESTORER_FILES[restorer]
    aside = path.with_name(path.name + ".aside")
    path.rename(aside)
    try:
        yield path.name
    finally:
        aside.rename(path)


@pytest.mark.parametrize("restorer", ["CodeFormer", "GFPGAN"])
def test_face_restoration_without_weights_is_refused(real, restorer):
    job = {
        **SMALL,
        "restore_faces": True,
        "override_settings": {"face_restoration_model": restorer},
    }
    with moved_away(real, restorer) as file:
        before = requests_seen(real, "/sdapi/v1/txt2img")
        error = refused(real, job)
        assert requests_seen(real, "/sdapi/v1/txt2img") == before
    assert f"face restorer '{restorer}'" in error and file in error
    assert "return the image unrestored" in error


@pytest.mark.parametrize(
    ("field", "restorer"),
    [("codeformer_visibility", "CodeFormer"), ("gfpgan_visibility", "GFPGAN")],
)
def test_extras_face_restoration_without_weights_is_refused(real, field, restorer):
    body = {"image": _noise_png(32), "upscaling_resize": 1, field: 1}
    with moved_away(real, restorer) as file:
        error = refused(real, {"api": "extras", **body})
    assert field in error and restorer in error and file in error


def test_an_unknown_face_restorer_is_refused(real):
    job = {**SMALL, "restore_faces": True, "override_settings": {"face_restoration_model": "Nope"}}
    assert direct(real, "/sdapi/v1/txt2img", job)["images"]
    assert "unknown face restorer 'Nope'" in refused(real, job)


def test_interrogate_clip_without_weights_is_error_caption_on_a1111_and_refused_here(real):
    image = png_b64(32, 32)
    assert direct(real, "/sdapi/v1/interrogate", {"image": image})["caption"] == "<error>"
    error = refused(real, {"api": "interrogate", "image": image})
    assert "interrogator 'clip'" in error and "model_base_caption_capfilt_large.pth" in error
    assert "ViT-L-14.pt" in error


def test_interrogate_deepdanbooru_without_weights_is_refused(real):
    error = refused(real, {"api": "interrogate", "image": png_b64(32, 32), "model": "deepdanbooru"})
    assert "model-resnet_custom_v3.pt" in error and "torch_deepdanbooru" in error


def test_an_unknown_style_is_skipped_by_a1111_and_refused_here(real):
    job = {**SMALL, "styles": ["cinematic"]}
    assert direct(real, "/sdapi/v1/txt2img", job)["images"]
    assert "styles: unknown style 'cinematic'" in refused(real, job)


def test_a_second_upscaler_at_visibility_0_is_skipped_by_a1111_and_refused_here(real):
    body = {"image": _noise_png(32), "upscaling_resize": 2, "upscaler_1": "Lanczos"}
    alone = direct(real, "/sdapi/v1/extra-single-image", body)
    both = direct(real, "/sdapi/v1/extra-single-image", {**body, "upscaler_2": "Nearest"})
    assert pixels(both["image"]) == pixels(alone["image"])
    error = refused(real, {"api": "extras", **body, "upscaler_2": "Nearest"})
    assert "extras_upscaler_2_visibility is 0" in error
    blended = {
        "api": "extras",
        **body,
        "upscaler_2": "Nearest",
        "extras_upscaler_2_visibility": 0.5,
    }
    output = real.runsync(blended)["output"]
    assert pixels(output["image"]) != pixels(alone["image"])


def _noise_png(size: int) -> str:
    # Texture, so that a real upscaler and Lanczos could not give the same pixels by chance.
    raw = bytes((i * 7919 + (i // size) * 104729) % 256 for i in range(size * size * 3))
    buf = io.BytesIO()
    Image.frombytes("RGB", (size, size), raw).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()
