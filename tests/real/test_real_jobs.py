"""Every operation, the six test inputs, outputs and A1111's own errors, on the real A1111 v1.9.3
through start.sh and the runpod SDK's local API server."""

from __future__ import annotations

import base64
import io
import json
import re
import socket

import pytest
import requests
from PIL import Image

from sdworker.operations import OPERATIONS
from tests.a1111_standin.harness import REPO_ROOT
from tests.helpers import decode_png, png_b64

SMALL = {"prompt": "a lighthouse at dusk", "width": 64, "height": 64, "steps": 1, "seed": 3}


def completed(answer: dict):
    assert answer.get("status") == "COMPLETED", answer
    return answer["output"]


def failed(answer: dict) -> str:
    assert answer.get("status") == "FAILED", answer
    assert "output" not in answer or not answer["output"].get("images"), answer
    return answer["error"]


def test_the_model_is_loaded_and_warm_before_the_handler_takes_jobs(real):
    log = real.log_path.read_text()
    # The handler was started with A1111 and prepared itself while the checkpoint loaded...
    assert log.index("start.sh: starting the handler") < log.index("Model loaded in")
    assert log.index("worker prepared; waiting") < log.index("A1111 is ready and warmed up")
    # ...and called runpod.serverless.start only after the warm-up.
    serving_at = log.index("Starting Serverless Worker")
    assert log.index("Model loaded in") < serving_at
    assert log.index('"POST /sdapi/v1/txt2img HTTP/1.1" 200') < serving_at
    assert log.index("A1111 is ready and warmed up") < serving_at


def test_a1111_listens_on_loopback_only(real):
    requests.get(real.webui_url + "/sdapi/v1/progress", timeout=10).raise_for_status()
    outside = _non_loopback_address()
    if outside is None:
        pytest.skip("this machine has no non-loopback IPv4 address to try")
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://{outside}:{real.webui_port}/sdapi/v1/progress", timeout=5)


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))  # no packet is sent: it only picks a route
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


@pytest.mark.parametrize("path", sorted(REPO_ROOT.glob("test_input*.json")), ids=lambda p: p.stem)
def test_the_six_test_inputs(real, path):
    job_input = json.loads(path.read_text())["input"]
    output = completed(real.runsync(job_input))
    api = job_input.get("api", "txt2img")
    if api in ("txt2img", "img2img"):
        size = (job_input["width"], job_input["height"])
        assert [decode_png(b).size for b in output["images"]] == [size]
        assert output["info"]["seed"] == job_input["seed"]
        if "<lora:lcm" in job_input["prompt"]:
            assert "Lora hashes" in output["info"]["infotexts"][0] or "lcm" in str(output["info"])
    elif api == "getLoras":
        assert {"lcm", "detail-tweaker"} <= {lora["name"] for lora in output}
    else:
        assert output["sd_model_checkpoint"].startswith("random-sd15")


def _generated_png(real) -> str:
    return completed(real.runsync(SMALL))["images"][0]


# One input per operation in the table: a new operation fails here until it gets one.
EXAMPLES = {
    "txt2img": SMALL,
    "img2img": {**SMALL, "init_images": [png_b64(64, 64)], "denoising_strength": 0.5},
    "extras": {"image": png_b64(32, 32), "upscaler_1": "Lanczos", "upscaling_resize": 2},
    "pngInfo": None,  # a generated PNG, below
    "interrogate": None,  # refused without its weights: test_refusals.py
    "getLoras": {},
    "refreshLoras": {},
    "getOptions": {},
    "setOptions": {"CLIP_stop_at_last_layers": 1},
    "getModels": {},
    "refreshCheckpoints": {},
    "getVaes": {},
    "getSamplers": {},
    "getSchedulers": {},
    "getUpscalers": {},
    "getEmbeddings": {},
    "getMemory": {},
    "getFaceRestorers": {},
    "getAdetailerModels": {},
    "getControlNetModels": {},
    "getControlNetModules": {},
    "getControlNetTypes": {},
    "controlNetDetect": {
        "controlnet_module": "canny",
        "controlnet_input_images": [png_b64(64, 64)],
        "controlnet_processor_res": 64,
    },
}


def test_every_operation_has_an_example():
    assert set(EXAMPLES) == set(OPERATIONS)


@pytest.mark.parametrize("api", [a for a, example in EXAMPLES.items() if example is not None])
def test_every_operation(real, api):
    output = completed(real.runsync({"api": api, **EXAMPLES[api]}))
    if api in ("txt2img", "img2img"):
        assert decode_png(output["images"][0]).size == (64, 64)
    elif api == "extras":
        assert decode_png(output["image"]).size == (64, 64)
    elif api in ("getLoras", "refreshLoras"):
        assert {"lcm", "detail-tweaker"} <= {lora["name"] for lora in output}
    elif api in ("getModels", "refreshCheckpoints"):
        assert [m["model_name"] for m in output] == ["random-sd15"]
    elif api == "setOptions":
        assert output["options"] == {"CLIP_stop_at_last_layers": 1}
    elif api == "getSamplers":
        assert {"Euler a", "DPM++ 2M", "LCM"} <= {s["name"] for s in output}
    elif api == "getSchedulers":
        assert "karras" in {s["name"] for s in output}
    elif api == "getUpscalers":
        assert {"Lanczos", "R-ESRGAN 4x+"} <= {u["name"] for u in output}
        assert all(isinstance(u["installed"], bool) for u in output)
    elif api == "getFaceRestorers":
        assert [r["name"] for r in output] == ["CodeFormer", "GFPGAN"]
    elif api == "getAdetailerModels":
        assert "face_yolov8n.pt" in output["ad_model"]
    elif api == "getMemory":
        assert output["ram"]["total"] > 0
    elif api == "getEmbeddings":
        assert set(output) == {"loaded", "skipped"}
    elif api == "getControlNetModels":
        assert "control_v11p_sd15_canny [5dc30e26]" in output["model_list"]
    elif api == "getControlNetModules":
        assert output["module_detail"]["canny"]["model_free"] is False
    elif api == "getControlNetTypes":
        assert output["control_types"]["Canny"]["default_option"] == "canny"
    elif api == "controlNetDetect":
        assert decode_png(output["images"][0]).size == (64, 64)
    else:
        assert output is not None


def test_png_info_reads_a_generated_image(real):
    output = completed(real.runsync({"api": "pngInfo", "image": _generated_png(real)}))
    assert output["parameters"]["Prompt"] == SMALL["prompt"]
    assert output["parameters"]["Steps"] == "1"


def test_set_options_changes_and_restores_clip_skip(real):
    changed = completed(real.runsync({"api": "setOptions", "CLIP_stop_at_last_layers": 2}))
    assert changed["changed"]["CLIP_stop_at_last_layers"]["to"] == 2
    try:
        info = completed(real.runsync(SMALL))["info"]
        assert "Clip skip: 2" in info["infotexts"][0]
    finally:
        completed(real.runsync({"api": "setOptions", "CLIP_stop_at_last_layers": 1}))


def test_override_settings_last_one_job(real):
    with_override = completed(
        real.runsync({**SMALL, "override_settings": {"CLIP_stop_at_last_layers": 2}})
    )
    assert "Clip skip: 2" in with_override["info"]["infotexts"][0]
    after = completed(real.runsync(SMALL))
    assert "Clip skip" not in after["info"]["infotexts"][0]
    options = completed(real.runsync({"api": "getOptions"}))
    assert options["CLIP_stop_at_last_layers"] == 1
    # The override changed the conditioning, so the pixels too (the checkpoint is not flat).
    assert with_override["images"][0] != after["images"][0]


def test_a_lora_changes_the_pixels(real):
    plain = completed(real.runsync(SMALL))["images"][0]
    with_lora = {**SMALL, "prompt": SMALL["prompt"] + " <lora:detail-tweaker:1>"}
    assert completed(real.runsync(with_lora))["images"][0] != plain


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_jpeg_and_webp_carry_the_infotext(real, fmt):
    output = completed(real.runsync({**SMALL, "output_format": fmt, "output_quality": 80}))
    image = Image.open(io.BytesIO(base64.b64decode(output["images"][0])))
    assert image.format == fmt.upper() and image.size == (64, 64)
    comment = image.getexif().get_ifd(0x8769).get(0x9286, b"")
    assert b"Steps: 1" in comment.replace(b"\x00", b"")
    assert output["image_details"][0]["format"] == fmt


def test_png_is_a1111s_own_bytes(real):
    output = completed(real.runsync(SMALL))
    image = decode_png(output["images"][0])
    assert image.info["parameters"].startswith(SMALL["prompt"])
    assert output["image_details"] == [{"seed": 3, "format": "png", "width": 64, "height": 64}]


def test_a1111s_own_errors_are_clear_and_not_a_restart(real):
    error = failed(real.runsync({**SMALL, "script_name": "no such script"}))
    assert re.search(r"A1111 failed on /sdapi/v1/txt2img \(4\d\d \w+\): .*[Ss]cript", error), error
    assert "refresh_worker" not in error
    error = failed(real.runsync({**SMALL, "alwayson_scripts": {"no such script": {"args": []}}}))
    assert "Script 'no such script' not found" in error, error
    # The worker carries on.
    assert completed(real.runsync(SMALL))["images"]


def test_the_local_api_reports_bad_input_before_a1111(real):
    error = failed(real.runsync({**SMALL, "sampler_name": "DPM++ 2M Karras"}))
    assert "scheduler 'Karras'" in error
    raw = requests.post(real.api_url + "/runsync", json={"input": {"api": "nope"}}, timeout=30)
    assert "unknown operation 'nope'" in raw.json()["error"]
