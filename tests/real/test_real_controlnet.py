"""ControlNet on the real A1111 v1.9.3 with sd-webui-controlnet 56cec5b2 and the project's
random-weight SD1.5 canny ControlNet (tests/engine/controlnet_weights.py), through start.sh and
the runpod SDK's local API server.

Each silent case is first sent straight to A1111, to show that it answers 200 and generates
without ControlNet (one image, no detected map), then through the worker, which must refuse it
before A1111 sees it, naming the unit, the field and what is installed. The engine directory is
shared: tests that depend on a file being absent look at the disk first.
"""

from __future__ import annotations

import base64
import io
import json

import pytest
import requests
from PIL import Image, ImageDraw

from sdworker.controlnet import annotators

MODEL = "control_v11p_sd15_canny [5dc30e26]"
SMALL = {"prompt": "a box", "width": 64, "height": 64, "steps": 1, "seed": 1}
SMALL["sampler_name"] = "Euler"


def box_png() -> str:
    image = Image.new("RGB", (64, 64), (0, 0, 0))
    ImageDraw.Draw(image).rectangle((16, 16, 48, 48), outline=(255, 255, 255), width=3)
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def unit(**fields) -> dict:
    return {"module": "canny", "model": MODEL, "image": box_png(), **fields}


def job(*units, **more) -> dict:
    return {**SMALL, **more, "alwayson_scripts": {"controlnet": {"args": list(units)}}}


def pixels(b64: str) -> bytes:
    return Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB").tobytes()


def direct(real, body: dict) -> dict:
    resp = requests.post(real.webui_url + "/sdapi/v1/txt2img", json=body, timeout=300)
    assert resp.status_code == 200, resp.text[:300]
    return resp.json()


def completed(answer: dict) -> dict:
    assert answer["status"] == "COMPLETED", answer
    return answer["output"]


def requests_seen(real) -> int:
    return real.requests_logged("/sdapi/v1/txt2img")


def refused(real, body: dict) -> str:
    before = requests_seen(real)
    answer = real.runsync(body)
    assert answer["status"] == "FAILED", answer
    assert "refresh_worker" not in answer and "stopPod" not in answer
    assert requests_seen(real) == before  # never reached A1111
    return answer["error"]


def silently_skipped(real, body: dict) -> None:
    """A1111 answers 200 with the generation alone: no detected map, ControlNet not applied."""
    for entry in body["alwayson_scripts"]["controlnet"]["args"]:
        entry.setdefault("enabled", True)
    assert len(direct(real, body)["images"]) == 1


def test_a_canny_unit_changes_the_pixels_and_its_map_comes_apart(real):
    without = completed(real.runsync(SMALL))
    # `enabled` left out: the worker's default is true (the extension's would skip the unit).
    with_cn = completed(real.runsync(job(unit())))
    assert len(with_cn["images"]) == 1 and len(with_cn["controlnet_maps"]) == 1
    assert len(with_cn["image_details"]) == 1 and with_cn["image_details"][0]["seed"] == 1
    assert pixels(with_cn["images"][0]) != pixels(without["images"][0])
    again = completed(real.runsync(job(unit(model="control_v11p_sd15_canny"))))
    assert pixels(again["images"][0]) == pixels(with_cn["images"][0])  # name without hash
    detected = Image.open(io.BytesIO(base64.b64decode(with_cn["controlnet_maps"][0])))
    assert detected.size == (64, 64) and detected.convert("L").getextrema() == (0, 255)


def test_the_extension_skips_a_unit_without_enabled(real):
    silent = job(unit())
    assert len(direct(real, silent)["images"]) == 1  # no map: the unit was skipped


def test_hires_maps_and_dropped_maps(real):
    hires = {"enable_hr": True, "hr_scale": 1.5, "hr_upscaler": "Latent"}
    hires |= {"denoising_strength": 0.5, "hr_second_pass_steps": 1}
    out = completed(real.runsync(job(unit(), **hires)))
    assert [Image.open(io.BytesIO(base64.b64decode(i))).size for i in out["images"]] == [(96, 96)]
    assert len(out["controlnet_maps"]) == 2  # the extension's maps for both passes
    dropped = completed(real.runsync(job(unit(save_detected_map=False))))
    assert len(dropped["images"]) == 1 and dropped["controlnet_maps"] == []


def test_an_unknown_model_is_refused(real):
    silently_skipped(real, job(unit(model="control_v11p_sd15_depth")))
    error = refused(real, job(unit(model="control_v11p_sd15_depth")))
    assert "alwayson_scripts.controlnet.args[0].model" in error and MODEL in error


def test_no_image_in_txt2img_is_refused(real):
    bare = unit()
    bare.pop("image")
    silently_skipped(real, job(dict(bare)))
    error = refused(real, job(bare))
    assert "args[0].image" in error


def test_a_fourth_unit_is_refused(real):
    four = job(*[unit(enabled=True) for _ in range(4)])
    assert len(direct(real, four)["images"]) == 4  # 1 image + 3 maps: the 4th unit dropped
    error = refused(real, job(*[unit() for _ in range(4)]))
    assert "4 units" in error and "3 slots" in error


def test_a_preprocessor_without_its_weights_is_refused(real):
    flags = requests.get(real.webui_url + "/sdapi/v1/cmd-flags", timeout=30).json()
    root = annotators.annotator_dir(flags["data_dir"], None, None)
    needed = annotators.WEIGHTS["openpose"][0].path(root)
    if needed.exists():
        pytest.skip(f"{needed} is on this engine")
    silently_skipped(real, job(unit(module="openpose")))
    error = refused(real, job(unit(module="openpose")))
    assert "args[0].module" in error and str(needed) in error
    assert "huggingface.co/lllyasviel/Annotators" in error


def test_a_preprocessor_without_its_package_is_refused(real):
    silently_skipped(real, job(unit(module="depth_anything")))
    error = refused(real, job(unit(module="depth_anything")))
    assert "args[0].module" in error and "Python package" in error


def test_a_threshold_out_of_range_is_refused(real):
    assert len(direct(real, job(unit(enabled=True, threshold_a=300)))["images"]) == 2  # reset
    error = refused(real, job(unit(threshold_a=300)))
    assert "args[0].threshold_a" in error and "1..255" in error


def test_an_sdxl_controlnet_on_an_sd15_checkpoint_is_refused(real):
    flags = requests.get(real.webui_url + "/sdapi/v1/cmd-flags", timeout=30).json()
    folder = real.engine / "webui" / "models" / "ControlNet"
    fake = folder / f"sdxl-probe-{real.api_port}.safetensors"
    header = {
        "input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight": {
            "dtype": "F16",
            "shape": [640, 2048],
            "data_offsets": [0, 0],
        }
    }
    raw = json.dumps(header).encode()
    fake.write_bytes(len(raw).to_bytes(8, "little") + raw)
    try:
        error = refused(real, job(unit(model=fake.stem)))
    finally:
        fake.unlink()
    assert flags["data_dir"]
    assert "args[0].model" in error and "SDXL" in error and "SD1.x" in error


def test_detect(real):
    answer = real.runsync(
        {
            "api": "controlNetDetect",
            "controlnet_module": "canny",
            "controlnet_input_images": [box_png()],
            "controlnet_processor_res": 64,
        }
    )
    out = completed(answer)
    assert Image.open(io.BytesIO(base64.b64decode(out["images"][0]))).size == (64, 64)
    error = real.runsync(
        {
            "api": "controlNetDetect",
            "controlnet_module": "no_such",
            "controlnet_input_images": [box_png()],
        }
    )["error"]
    assert "controlnet_module" in error and "'canny'" in error


def test_the_standin_has_the_extensions_routes(real):
    from tests.a1111_standin.controlnet import ROUTES

    paths = requests.get(real.webui_url + "/openapi.json", timeout=30).json()["paths"]
    for path, methods in ROUTES.items():
        assert {m.lower() for m in methods} <= set(paths[path]), path


def test_the_engines_controlnet_has_the_real_sd15_layout(real):
    # The extension loads with strict=False: a wrong key set would load and do nothing.
    path = real.engine / "webui" / "models" / "ControlNet" / "control_v11p_sd15_canny.safetensors"
    with path.open("rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    header.pop("__metadata__", None)
    params = 0
    for tensor in header.values():
        count = 1
        for dim in tensor["shape"]:
            count *= dim
        params += count
    assert (len(header), params) == (340, 361_279_120)
    assert {t["dtype"] for t in header.values()} == {"F16"}
    assert header["input_hint_block.0.weight"]["shape"] == [16, 3, 3, 3]
    assert header["input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"]["shape"] == [320, 768]
