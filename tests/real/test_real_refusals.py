"""What the real A1111 accepts and then silently skips is refused by the worker first.

Each case is sent twice: straight to A1111, to show that it answers 200 without doing the work
(so the refusal is needed), then through the worker, which must refuse it before A1111 sees it,
naming what is missing and where it goes. The engine has no upscaler, face-restoration or
interrogation weights, as a worker without baked ones.
"""

from __future__ import annotations

import base64
import io

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
    return real.webui_log.read_text().count(f'"POST {route} HTTP/1.1"')


def test_an_esrgan_upscaler_without_weights_is_lanczos_on_a1111_and_refused_here(real):
    image = png_b64(32, 32, (10, 200, 40))
    noisy = _noise_png(32)
    body = {"image": noisy, "upscaling_resize": 2}
    esrgan = direct(real, "/sdapi/v1/extra-single-image", {**body, "upscaler_1": "R-ESRGAN 4x+"})
    lanczos = direct(real, "/sdapi/v1/extra-single-image", {**body, "upscaler_1": "Lanczos"})
    assert pixels(esrgan["image"]) == pixels(lanczos["image"])  # the silent fallback
    assert "R-ESRGAN 4x+" in esrgan["html_info"]
    before = requests_seen(real, "/sdapi/v1/extra-single-image")
    error = refused(real, {"api": "extras", "image": image, "upscaler_1": "R-ESRGAN 4x+"})
    assert "upscaler_1" in error and "RealESRGAN_x4plus.pth" in error
    assert "models/RealESRGAN" in error and "fall back to Lanczos" in error
    assert "'Lanczos'" in error  # what can be used instead
    assert requests_seen(real, "/sdapi/v1/extra-single-image") == before


def test_a_hires_fix_with_an_esrgan_upscaler_without_weights_is_refused(real):
    job = {
        **SMALL,
        "enable_hr": True,
        "hr_scale": 1.5,
        "hr_upscaler": "R-ESRGAN 4x+",
        "denoising_strength": 0.5,
        "hr_second_pass_steps": 1,
    }
    done = direct(real, "/sdapi/v1/txt2img", job)
    assert "Hires upscaler: R-ESRGAN 4x+" in done["info"]  # the infotext claims it
    error = refused(real, job)
    assert "hr_upscaler" in error and "RealESRGAN_x4plus.pth" in error
    # A latent mode needs no weights.
    answer = real.runsync({**job, "hr_upscaler": "Latent"})
    assert answer["status"] == "COMPLETED", answer


@pytest.mark.parametrize("restorer", ["CodeFormer", "GFPGAN"])
def test_face_restoration_without_weights_is_refused(real, restorer):
    job = {
        **SMALL,
        "restore_faces": True,
        "override_settings": {"face_restoration_model": restorer},
    }
    done = direct(real, "/sdapi/v1/txt2img", job)
    assert done["images"]  # A1111 answers as if it had restored
    error = refused(real, job)
    assert f"face restorer '{restorer}'" in error and "detection_Resnet50_Final.pth" in error
    assert "models/GFPGAN" in error


@pytest.mark.parametrize(
    ("field", "restorer", "file"),
    [
        ("codeformer_visibility", "CodeFormer", "codeformer"),
        ("gfpgan_visibility", "GFPGAN", "GFPGANv1.4.pth"),
    ],
)
def test_extras_face_restoration_without_weights_is_refused(real, field, restorer, file):
    image = _noise_png(32)
    body = {"image": image, "upscaling_resize": 1, field: 1}
    done = direct(real, "/sdapi/v1/extra-single-image", body)
    assert pixels(done["image"]) == pixels(image)  # unchanged, and 200
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
