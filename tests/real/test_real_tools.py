"""Upscalers and face restoration really run on the real A1111, offline, through the worker.

The engine has tests/engine/tool_weights.py's random-weight files of the real architectures:
R-ESRGAN 4x+ (RRDBNet), CodeFormer, GFPGAN, and facexlib's detector (its class heads set to
"no face") and parser. Random weights cannot make a good picture, but they show the real thing
ran: R-ESRGAN's pixels differ from Lanczos (A1111's silent fallback when the weights are
missing), and face restoration loads its models without A1111's "Unable to load" line.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
import requests
from PIL import Image

SMALL = {"prompt": "a portrait", "width": 64, "height": 64, "steps": 1, "seed": 11}


def pixels(b64: str) -> bytes:
    return Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB").tobytes()


def noise_png(size: int = 32) -> str:
    # Texture, so that R-ESRGAN and Lanczos cannot give the same pixels by chance.
    raw = bytes((i * 7919 + (i // size) * 104729) % 256 for i in range(size * size * 3))
    buf = io.BytesIO()
    Image.frombytes("RGB", (size, size), raw).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def completed(real, job: dict) -> dict:
    answer = real.runsync(job)
    assert answer["status"] == "COMPLETED", answer
    return answer["output"]


def log_since(real, mark: int) -> str:
    return real.webui_log.read_text(errors="replace")[mark:]


def log_mark(real) -> int:
    return len(real.webui_log.read_text(errors="replace"))


def test_an_extras_upscale_with_r_esrgan_runs_the_model_not_lanczos(real, untiled_esrgan):
    image = noise_png(32)
    mark = log_mark(real)
    esrgan = completed(
        real, {"api": "extras", "image": image, "upscaler_1": "R-ESRGAN 4x+", "upscaling_resize": 2}
    )
    lanczos = completed(
        real, {"api": "extras", "image": image, "upscaler_1": "Lanczos", "upscaling_resize": 2}
    )
    shown = Image.open(io.BytesIO(base64.b64decode(esrgan["image"])))
    assert shown.size == (64, 64)
    assert pixels(esrgan["image"]) != pixels(lanczos["image"])
    assert "Postprocess upscaler: R-ESRGAN 4x+" in esrgan["html_info"]
    log = log_since(real, mark)
    assert "Unable to load RealESRGAN model" not in log and "Downloading" not in log


def test_a_hires_fix_with_r_esrgan_runs(real, untiled_esrgan):
    job = {
        **SMALL,
        "enable_hr": True,
        "hr_scale": 1.5,
        "hr_upscaler": "R-ESRGAN 4x+",
        "denoising_strength": 0.5,
        "hr_second_pass_steps": 1,
    }
    mark = log_mark(real)
    output = completed(real, job)
    image = Image.open(io.BytesIO(base64.b64decode(output["images"][0])))
    assert image.size == (96, 96)
    assert "Hires upscaler: R-ESRGAN 4x+" in output["info"]["infotexts"][0]
    assert "Unable to load RealESRGAN model" not in log_since(real, mark)


@pytest.mark.parametrize("restorer", ["CodeFormer", "GFPGAN"])
def test_restore_faces_loads_the_restorer_offline(real, restorer):
    job = {
        **SMALL,
        "restore_faces": True,
        "override_settings": {"face_restoration_model": restorer},
    }
    mark = log_mark(real)
    output = completed(real, job)
    assert f"Face restoration: {restorer}" in output["info"]["infotexts"][0]
    log = log_since(real, mark)
    assert "Unable to load face-restoration model" not in log
    assert "Downloading" not in log and "No " + restorer not in log


@pytest.mark.parametrize("field", ["codeformer_visibility", "gfpgan_visibility"])
def test_extras_face_restoration_runs_offline(real, field):
    mark = log_mark(real)
    completed(real, {"api": "extras", "image": noise_png(32), "upscaling_resize": 1, field: 1})
    log = log_since(real, mark)
    assert "Unable to load face-restoration model" not in log and "Downloading" not in log


def upscaler_files(webui: Path) -> dict[str, bool]:
    """Whether A1111 would find each upscaler's weights, read from the disk here."""
    models = webui / "models"
    realesrgan = models / "RealESRGAN"
    return {
        "R-ESRGAN 4x+": (realesrgan / "RealESRGAN_x4plus.pth").is_file(),
        "R-ESRGAN 4x+ Anime6B": (realesrgan / "RealESRGAN_x4plus_anime_6B.pth").is_file(),
        "SwinIR 4x": any((models / "SwinIR").glob("*.pth")),
        "ESRGAN_4x": any((models / "ESRGAN").glob("*.pth")),
        "Lanczos": True,
        "None": True,
    }


def test_get_upscalers_says_which_have_their_weights_on_disk(real):
    listed = {u["name"]: u for u in completed(real, {"api": "getUpscalers"})}
    direct = requests.get(real.webui_url + "/sdapi/v1/upscalers", timeout=30).json()
    assert set(listed) == {u["name"] for u in direct}
    on_disk = upscaler_files(Path(real.engine) / "webui")
    assert on_disk["R-ESRGAN 4x+"] and not on_disk["R-ESRGAN 4x+ Anime6B"]
    for name, present in on_disk.items():
        if name in listed:
            assert listed[name]["installed"] is present, (name, listed[name])
    missing = listed["R-ESRGAN 4x+ Anime6B"]["missing"]
    assert len(missing) == 1 and "RealESRGAN_x4plus_anime_6B.pth" in missing[0]
    # A1111's own entry still shows the download URL although the file is there (trap T3).
    assert listed["R-ESRGAN 4x+"]["model_path"].startswith("https://")


def test_get_face_restorers_says_both_are_installed(real):
    listed = completed(real, {"api": "getFaceRestorers"})
    webui = Path(real.engine) / "webui"
    assert (webui / "models/GFPGAN/detection_Resnet50_Final.pth").is_file()
    assert [(r["name"], r["installed"]) for r in listed] == [
        ("CodeFormer", any((webui / "models/Codeformer").glob("*.pth"))),
        ("GFPGAN", any((webui / "models/GFPGAN").glob("*GFPGAN*.pth"))),
    ]
    assert all(r["installed"] for r in listed)
