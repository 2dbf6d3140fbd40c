"""Tests of the A1111 stand-in itself: fault injection, CLI flags, the queue lock, progress,
interrupt, options, images and validation. They need no recordings (see
test_standin_contract.py for the comparison with the real server)."""

from __future__ import annotations

import base64
import http.client
import io
import json
import random
import socket
import threading
import time

import pytest
import requests
from PIL import Image

from tests.a1111_standin import schema
from tests.conftest import StandIn

TINY = {"prompt": "a cat", "width": 64, "height": 64, "steps": 1, "sampler_name": "Euler a"}


def post(standin: StandIn, route: str, body=None, timeout: float = 30, **kw) -> requests.Response:
    return requests.post(standin.url + route, json=body, timeout=timeout, **kw)


def get(standin: StandIn, route: str, timeout: float = 30) -> requests.Response:
    return requests.get(standin.url + route, timeout=timeout)


def txt2img(standin: StandIn, timeout: float = 30, **fields) -> requests.Response:
    return post(standin, "/sdapi/v1/txt2img", {**TINY, **fields}, timeout=timeout)


def info_of(resp: requests.Response) -> dict:
    assert resp.status_code == 200, resp.text[:300]
    return json.loads(resp.json()["info"])


def png_b64(size=(64, 64), colour=(10, 200, 30), text: str | None = None) -> str:
    from PIL import PngImagePlugin

    image = Image.new("RGB", size, colour)
    meta = None
    if text is not None:
        meta = PngImagePlugin.PngInfo()
        meta.add_text("parameters", text)
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=meta)
    return base64.b64encode(buf.getvalue()).decode()


def decode(b64: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    image.load()
    return image


def run_in_thread(fn, *args, **kwargs) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def target() -> None:
        try:
            out["result"] = fn(*args, **kwargs)
        except Exception as exc:  # pragma: no cover - reported by the caller
            out["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, out


# --- fault injection ----------------------------------------------------------------------


def test_fault_status_then_normal(a1111: StandIn) -> None:
    a1111.fault("/sdapi/v1/txt2img", "status", status=503, times=1)
    first = txt2img(a1111)
    assert first.status_code == 503
    body = first.json()
    assert set(body) == {"error", "detail", "body", "errors"}
    assert txt2img(a1111).status_code == 200
    stats = a1111.stats()
    assert stats["counts"]["POST /sdapi/v1/txt2img"] == 2
    assert stats["generations"] == 1


def test_fault_status_with_body_and_every_time(a1111: StandIn) -> None:
    a1111.fault(
        "/sdapi/v1/*",
        "status",
        status=500,
        method="GET",
        body={"error": "OutOfMemoryError", "detail": "", "body": "", "errors": "CUDA error: x"},
    )
    for _ in range(2):
        resp = get(a1111, "/sdapi/v1/progress")
        assert resp.status_code == 500
        assert resp.json()["errors"] == "CUDA error: x"
    assert txt2img(a1111).status_code == 200  # POST is not matched
    a1111.clear_faults()
    assert get(a1111, "/sdapi/v1/progress").status_code == 200


def test_fault_raw_text_body(a1111: StandIn) -> None:
    a1111.fault("/sdapi/v1/memory", "status", status=502, body="<html>Bad Gateway</html>")
    resp = get(a1111, "/sdapi/v1/memory")
    assert resp.status_code == 502 and "Bad Gateway" in resp.text


def test_fault_close_resets_connection(a1111: StandIn) -> None:
    a1111.fault("/sdapi/v1/txt2img", "close", times=1)
    with pytest.raises(requests.ConnectionError):
        txt2img(a1111)
    assert txt2img(a1111).status_code == 200


def test_fault_hang_until_cleared(a1111: StandIn) -> None:
    a1111.fault("/sdapi/v1/txt2img", "hang")
    with pytest.raises(requests.ReadTimeout):
        txt2img(a1111, timeout=0.4)
    a1111.clear_faults()
    assert txt2img(a1111).status_code == 200


def test_fault_delay(a1111: StandIn) -> None:
    a1111.fault("/sdapi/v1/progress", "delay", seconds=0.4, times=1)
    started = time.monotonic()
    resp = get(a1111, "/sdapi/v1/progress")
    assert resp.status_code == 200 and time.monotonic() - started >= 0.4
    started = time.monotonic()
    get(a1111, "/sdapi/v1/progress")
    assert time.monotonic() - started < 0.3


def test_fault_spec_is_checked(a1111: StandIn) -> None:
    for bad in (
        {"route": "/x", "mode": "explode"},
        {"mode": "status"},
        {"route": "/x", "mode": "status", "status": 42},
        {"route": "/x", "mode": "delay", "seconds": -1},
        {"route": "/x", "mode": "status", "times": 0},
        {"route": "/x", "mode": "status", "colour": "red"},
    ):
        status, _ = a1111.call("POST", "/__standin__/faults", bad)
        assert status == 400, bad


def test_runtime_config(a1111: StandIn) -> None:
    a1111.config(loras=["foo", "bar"], fail_status=None)
    names = [item["name"] for item in get(a1111, "/sdapi/v1/loras").json()]
    assert names == ["bar", "foo"]
    status, body = a1111.call("POST", "/__standin__/config", {"no_such_key": 1})
    assert status == 400 and "no_such_key" in body["detail"]
    a1111.config(fail_status=500)
    assert get(a1111, "/sdapi/v1/progress").status_code == 500
    a1111.reset()
    assert get(a1111, "/sdapi/v1/progress").status_code == 200
    names = [item["name"] for item in get(a1111, "/sdapi/v1/loras").json()]
    assert names == ["detail-tweaker", "lcm"]


# --- command-line flags -------------------------------------------------------------------


def _connect_refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except ConnectionRefusedError:
        return True


def test_cli_start_delay(start_standin) -> None:
    started = time.monotonic()
    server = start_standin("--start-delay", "1.0", wait=False)
    assert _connect_refused(server.port)
    server.wait_ready()
    assert time.monotonic() - started >= 0.9
    assert get(server, "/sdapi/v1/progress").status_code == 200


def test_cli_model_load_seconds(start_standin) -> None:
    started = time.monotonic()
    server = start_standin("--model-load-seconds", "1.5")
    t0 = time.monotonic()
    assert get(server, "/sdapi/v1/memory").status_code == 200
    assert time.monotonic() - t0 < 0.5
    assert txt2img(server).status_code == 200
    assert time.monotonic() - started >= 1.4
    t0 = time.monotonic()
    assert txt2img(server).status_code == 200
    assert time.monotonic() - t0 < 0.5


def test_cli_generation_seconds(start_standin) -> None:
    server = start_standin("--generation-seconds", "0.6", "--quiet")
    started = time.monotonic()
    assert txt2img(server, steps=3).status_code == 200
    assert 0.6 <= time.monotonic() - started < 3


def test_cli_hang(start_standin) -> None:
    server = start_standin("--hang")
    with pytest.raises(requests.ReadTimeout):
        get(server, "/sdapi/v1/progress", timeout=0.4)


def test_cli_fail_status(start_standin) -> None:
    server = start_standin("--fail-status", "503")
    for route in ("/sdapi/v1/progress", "/sdapi/v1/options"):
        resp = get(server, route)
        assert resp.status_code == 503
        assert set(resp.json()) == {"error", "detail", "body", "errors"}
    assert txt2img(server).status_code == 503
    assert server.stats()["counts"]["GET /sdapi/v1/progress"] == 1


# --- the queue lock, progress, interrupt ---------------------------------------------------


def test_generations_are_serialised(a1111: StandIn) -> None:
    a1111.config(generation_seconds=0.4)
    started = time.monotonic()
    threads = [run_in_thread(txt2img, a1111, steps=4) for _ in range(2)]
    for thread, _ in threads:
        thread.join(10)
    for _, out in threads:
        assert out["result"].status_code == 200
    assert time.monotonic() - started >= 0.8
    stats = a1111.stats()
    assert stats["generations"] == 2
    assert stats["max_concurrent_generations"] == 1


def test_progress_during_generation(a1111: StandIn) -> None:
    a1111.config(generation_seconds=1.2)
    thread, out = run_in_thread(txt2img, a1111, steps=12, force_task_id="task-123")
    seen = []
    while thread.is_alive():
        body = get(a1111, "/sdapi/v1/progress").json()
        if body["state"]["job_count"]:
            seen.append(body)
        time.sleep(0.05)
    assert out["result"].status_code == 200
    # A poll can land after the job started and before sampling did (as on the real engine):
    # then no sampling steps are known yet.
    preparing = [b for b in seen if b["state"]["sampling_steps"] == 0]
    assert all(b["state"]["sampling_step"] == 0 for b in preparing)
    seen = [b for b in seen if b not in preparing]
    assert seen, "no progress seen during the sampling"
    for body in seen:
        assert 0 < body["progress"] <= 1
        assert body["eta_relative"] >= 0 or body["state"]["sampling_step"] == 0
        assert body["state"]["sampling_steps"] == 12
        assert body["state"]["job"] == "scripts_txt2img"
        assert body["state"]["job_count"] == 1
    steps = [b["state"]["sampling_step"] for b in seen]
    assert steps == sorted(steps) and steps[-1] > steps[0]
    assert any(b["current_image"] for b in seen)  # live preview every 10 steps
    idle = get(a1111, "/sdapi/v1/progress").json()
    assert idle["progress"] == 0.0 and idle["state"]["job_count"] == 0
    assert idle["state"]["job_no"] == 1 and idle["current_image"] is None
    assert a1111.stats()["force_task_ids"] == ["task-123"]


def test_interrupt_ends_generation_early(a1111: StandIn) -> None:
    a1111.config(generation_seconds=4.0)
    started = time.monotonic()
    thread, out = run_in_thread(txt2img, a1111, steps=40, n_iter=2)
    time.sleep(0.3)
    assert post(a1111, "/sdapi/v1/interrupt").json() == {}
    thread.join(5)
    resp = out["result"]
    assert resp.status_code == 200
    assert time.monotonic() - started < 2.0
    assert len(resp.json()["images"]) == 1  # the first batch, half-done; no second batch
    state = get(a1111, "/sdapi/v1/progress").json()["state"]
    assert state["interrupted"] is True
    assert a1111.stats()["interrupts"] == 1
    a1111.config(generation_seconds=0)
    assert txt2img(a1111).status_code == 200  # the next job starts afresh
    assert get(a1111, "/sdapi/v1/progress").json()["state"]["interrupted"] is False


# --- options ------------------------------------------------------------------------------


def test_options_persist_and_show_in_info(a1111: StandIn) -> None:
    assert get(a1111, "/sdapi/v1/options").json()["CLIP_stop_at_last_layers"] == 1
    assert post(a1111, "/sdapi/v1/options", {"CLIP_stop_at_last_layers": 2}).json() is None
    info = info_of(txt2img(a1111))
    assert info["clip_skip"] == 2 and "Clip skip: 2" in info["infotexts"][0]
    opts = get(a1111, "/sdapi/v1/options").json()
    assert opts["CLIP_stop_at_last_layers"] == 2.0
    assert isinstance(opts["CLIP_stop_at_last_layers"], float)


def test_options_unknown_key_and_bad_type(a1111: StandIn) -> None:
    resp = post(
        a1111, "/sdapi/v1/options", {"jpeg_quality": 90, "nope_xyz": 1, "eta_ancestral": 0.5}
    )
    assert resp.status_code == 500
    assert resp.json() == {"error": "KeyError", "detail": "", "body": "", "errors": "'nope_xyz'"}
    opts = get(a1111, "/sdapi/v1/options").json()
    assert opts["jpeg_quality"] == 90.0 and opts["eta_ancestral"] == 1.0  # applied up to the key
    resp = post(a1111, "/sdapi/v1/options", {"samples_save": "maybe"})
    assert resp.status_code == 200 and resp.json() is None  # stored unchecked


def test_model_switch_through_options(a1111: StandIn) -> None:
    titles = [m["title"] for m in get(a1111, "/sdapi/v1/sd-models").json()]
    assert len(titles) >= 2
    resp = post(a1111, "/sdapi/v1/options", {"sd_model_checkpoint": "nope"})
    assert resp.status_code == 500
    assert (
        resp.json()["error"] == "RuntimeError" and resp.json()["errors"] == "model 'nope' not found"
    )
    second = titles[1].rsplit(".", 1)[0]
    assert post(a1111, "/sdapi/v1/options", {"sd_model_checkpoint": second}).status_code == 200
    assert info_of(txt2img(a1111))["sd_model_name"] == second
    assert get(a1111, "/sdapi/v1/options").json()["sd_model_checkpoint"] == titles[1]
    vae = get(a1111, "/sdapi/v1/sd-vae").json()[0]["model_name"]
    post(a1111, "/sdapi/v1/options", {"sd_vae": vae})
    info = info_of(txt2img(a1111))
    assert info["sd_vae_name"] == vae and f"VAE: {vae}" in info["infotexts"][0]


def test_override_settings_restored_or_kept(a1111: StandIn) -> None:
    info = info_of(txt2img(a1111, override_settings={"CLIP_stop_at_last_layers": 3}))
    assert info["clip_skip"] == 3
    assert info_of(txt2img(a1111))["clip_skip"] == 1
    assert get(a1111, "/sdapi/v1/options").json()["CLIP_stop_at_last_layers"] == 1
    info = info_of(
        txt2img(
            a1111,
            override_settings={"CLIP_stop_at_last_layers": 3},
            override_settings_restore_afterwards=False,
        )
    )
    assert info["clip_skip"] == 3
    assert info_of(txt2img(a1111))["clip_skip"] == 3
    resp = txt2img(a1111, override_settings={"no_such_option": 1})
    assert resp.status_code == 500 and resp.json()["error"] == "KeyError"
    # an unknown checkpoint in override_settings is dropped without a word
    info = info_of(txt2img(a1111, override_settings={"sd_model_checkpoint": "nope"}))
    assert info["sd_model_name"] == "random-sd15"


# --- images and info ----------------------------------------------------------------------


def test_png_parameters_chunk_and_png_info(a1111: StandIn) -> None:
    resp = txt2img(a1111, negative_prompt="ugly", seed=77, batch_size=2, cfg_scale=5)
    info = info_of(resp)
    assert info["all_seeds"] == [77, 78]
    images = resp.json()["images"]
    assert len(images) == 2
    for b64, text in zip(images, info["infotexts"], strict=True):
        image = decode(b64)
        assert image.format == "PNG" and image.size == (64, 64)
        assert image.info["parameters"] == text
    assert images[0] != images[1]
    assert (
        txt2img(a1111, negative_prompt="ugly", seed=77, cfg_scale=5).json()["images"][0]
        == images[0]
    )
    parsed = post(a1111, "/sdapi/v1/png-info", {"image": images[1]}).json()
    assert parsed["info"] == info["infotexts"][1]
    assert parsed["items"] == {}
    params = parsed["parameters"]
    assert params["Prompt"] == "a cat" and params["Negative prompt"] == "ugly"
    assert params["Steps"] == "1" and params["Seed"] == "78" and params["CFG scale"] == "5.0"
    assert params["Size-1"] == "64" and params["Size-2"] == "64"
    assert params["Sampler"] == "Euler a" and params["Clip skip"] == "1"


def test_silent_behaviours(a1111: StandIn) -> None:
    info = info_of(txt2img(a1111, prompt="a cat <lora:doesnotexist:1>"))
    assert "doesnotexist" not in json.dumps(info["extra_generation_params"])
    assert info["infotexts"][0].startswith("a cat <lora:doesnotexist:1>\nSteps: 1")
    resp = txt2img(a1111, width=65, height=71)
    assert decode(resp.json()["images"][0]).size == (64, 64)
    assert info_of(resp)["width"] == 65 and "Size: 65x71" in info_of(resp)["infotexts"][0]
    info = info_of(txt2img(a1111, scheduler="NoSuchScheduler"))
    assert "Schedule type: NoSuchScheduler" in info["infotexts"][0]
    resp = txt2img(a1111, send_images=False, not_a_field=[1, 2])
    assert resp.json()["images"] == [] and "not_a_field" not in resp.json()["parameters"]


def test_a1111_errors(a1111: StandIn) -> None:
    def error(resp: requests.Response) -> tuple[int, str, str, str]:
        body = resp.json()
        return resp.status_code, body["error"], body["detail"], body["errors"]

    assert error(txt2img(a1111, sampler_name="DPM++ 2M Karras")) == (
        404,
        "HTTPException",
        "Sampler not found",
        "",
    )
    assert error(txt2img(a1111, steps=0))[:2] == (500, "ZeroDivisionError")
    assert error(txt2img(a1111, steps=-3))[:2] == (500, "RuntimeError")
    assert error(txt2img(a1111, height=7))[:2] == (500, "RuntimeError")
    assert error(txt2img(a1111, batch_size=0))[:2] == (500, "IndexError")
    assert error(txt2img(a1111, enable_hr=True))[:2] == (500, "TypeError")
    assert error(txt2img(a1111, enable_hr=True, denoising_strength=0.5, hr_upscaler="Nope")) == (
        500,
        "Exception",
        "",
        "could not find upscaler named Nope",
    )
    assert error(txt2img(a1111, script_name="nope"))[:3] == (
        422,
        "HTTPException",
        "Script 'nope' not found",
    )
    img2img = "/sdapi/v1/img2img"
    assert error(post(a1111, img2img, TINY)) == (404, "HTTPException", "Init image not found", "")
    bad = {**TINY, "init_images": ["not-base64!!!"]}
    assert error(post(a1111, img2img, bad)) == (500, "HTTPException", "Invalid encoded image", "")


def test_hires_fix(a1111: StandIn) -> None:
    resp = txt2img(
        a1111, enable_hr=True, denoising_strength=0.6, hr_scale=1.5, hr_upscaler="Latent"
    )
    info = info_of(resp)
    assert decode(resp.json()["images"][0]).size == (96, 96)
    assert info["width"] == 64
    assert info["extra_generation_params"] == {
        "Denoising strength": 0.6,
        "Hires upscale": 1.5,
        "Hires upscaler": "Latent",
    }
    assert (
        "Denoising strength: 0.6, Hires upscale: 1.5, Hires upscaler: Latent"
        in info["infotexts"][0]
    )


def test_img2img_and_grid(a1111: StandIn) -> None:
    body = {
        **TINY,
        "init_images": ["data:image/png;base64," + png_b64((100, 50))],
        "denoising_strength": 0.3,
        "batch_size": 2,
        "save_images": True,
    }
    resp = post(a1111, "/sdapi/v1/img2img", body)
    info = info_of(resp)
    images = [decode(b) for b in resp.json()["images"]]
    assert [im.size for im in images] == [(128, 64), (64, 64), (64, 64)]  # grid first
    assert info["index_of_first_image"] == 1 and len(info["infotexts"]) == 3
    assert info["extra_generation_params"] == {"Denoising strength": 0.3}
    assert resp.json()["parameters"]["init_images"] is None


def test_extras_and_interrogate(a1111: StandIn) -> None:
    image = png_b64((64, 48), text="a dog\nSteps: 3, Seed: 5, Size: 64x48")
    resp = post(a1111, "/sdapi/v1/extra-single-image", {"image": image, "upscaler_1": "Lanczos"})
    assert resp.status_code == 200
    out = decode(resp.json()["image"])
    assert out.size == (128, 96)
    assert out.info["parameters"].startswith("a dog")
    assert (
        resp.json()["html_info"]
        == "<p>Postprocess upscale by: 2, Postprocess upscaler: Lanczos</p>"
    )
    resp = post(
        a1111,
        "/sdapi/v1/extra-single-image",
        {
            "image": image,
            "resize_mode": 1,
            "upscaling_resize_w": 100,
            "upscaling_resize_h": 100,
            "upscaler_1": "R-ESRGAN 4x+",
        },
    )
    assert decode(resp.json()["image"]).size == (100, 100)
    resp = post(a1111, "/sdapi/v1/extra-single-image", {"image": image, "upscaler_1": "Magic 9x"})
    assert resp.status_code == 500 and resp.json()["error"] == "AssertionError"
    resp = post(a1111, "/sdapi/v1/extra-single-image", {"image": image, "resize_mode": 2})
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["type"] == "value_error.const"
    caption = post(a1111, "/sdapi/v1/interrogate", {"image": image}).json()["caption"]
    assert isinstance(caption, str) and caption
    resp = post(a1111, "/sdapi/v1/interrogate", {"image": image, "model": "blip"})
    assert resp.status_code == 404 and resp.json()["detail"] == "Model not found"


# --- validation and HTTP --------------------------------------------------------------------


def test_lax_coercion_like_pydantic_v1(a1111: StandIn) -> None:
    resp = txt2img(a1111, steps="2", prompt=3, cfg_scale="4", tiling="yes", seed=9.7)
    params = resp.json()["parameters"]
    assert (params["steps"], params["prompt"], params["cfg_scale"]) == (2, "3", 4.0)
    assert (params["tiling"], params["seed"]) == (True, 9)
    resp = txt2img(a1111, steps=[1], styles="x", send_images=2, width=None, comments=[])
    assert resp.status_code == 422
    assert [(e["loc"][1], e["type"]) for e in resp.json()["detail"]] == [
        ("styles", "type_error.list"),
        ("steps", "type_error.integer"),
        ("send_images", "type_error.bool"),
    ]
    resp = post(a1111, "/sdapi/v1/png-info", {})
    assert resp.json() == {
        "detail": [
            {"loc": ["body", "image"], "msg": "field required", "type": "value_error.missing"}
        ]
    }


@pytest.mark.parametrize(
    ("kind", "bad", "error_type"),
    [
        ("int", "x", "type_error.integer"),
        ("float", "x", "type_error.float"),
        ("str", {}, "type_error.str"),
        ("bool", "x", "type_error.bool"),
        ("list", "x", "type_error.list"),
        ("list[str]", 5, "type_error.list"),
        ("dict", 5, "type_error.dict"),
    ],
)
def test_every_typed_field_is_checked(a1111: StandIn, kind: str, bad, error_type: str) -> None:
    names = [f.name for f in schema.TXT2IMG_FIELDS if f.kind == kind]
    resp = post(a1111, "/sdapi/v1/txt2img", {name: bad for name in names})
    assert resp.status_code == 422
    assert [(e["loc"], e["type"]) for e in resp.json()["detail"]] == [
        (["body", name], error_type) for name in names
    ]


def test_routing_and_http_details(a1111: StandIn) -> None:
    assert get(a1111, "/sdapi/v1/nope").json() == {"detail": "Not Found"}
    resp = get(a1111, "/sdapi/v1/txt2img")
    assert resp.status_code == 405 and resp.headers["allow"] == "POST"
    resp = requests.head(a1111.url + "/sdapi/v1/progress", timeout=5)
    assert resp.status_code == 200 and resp.content == b""
    resp = get(a1111, "/sdapi/v1/samplers")
    assert resp.headers["content-encoding"] == "gzip" and len(resp.json()) == 19
    assert resp.headers["server"] == "uvicorn"
    resp = requests.get(a1111.url + "/sdapi/v1/progress/", timeout=5, allow_redirects=False)
    assert resp.status_code == 307
    resp = post(
        a1111, "/sdapi/v1/txt2img", data=b'{"prompt": 1}', headers={"content-type": "text/plain"}
    )
    assert resp.json()["detail"][0]["type"] == "type_error.dict"


def test_keep_alive(a1111: StandIn) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", a1111.port, timeout=10)
    try:
        for _ in range(3):
            conn.request("GET", "/sdapi/v1/progress")
            resp = conn.getresponse()
            assert resp.status == 200 and json.loads(resp.read())["progress"] == 0.0
        body = json.dumps(TINY)
        conn.request("POST", "/sdapi/v1/txt2img", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("content-length")
        resp.read()
    finally:
        conn.close()


def test_reset_restores_start_state(a1111: StandIn) -> None:
    post(a1111, "/sdapi/v1/options", {"CLIP_stop_at_last_layers": 2, "samples_format": "jpg"})
    a1111.config(generation_seconds=5)
    a1111.fault("/sdapi/v1/progress", "status", status=500)
    a1111.reset()
    assert get(a1111, "/sdapi/v1/progress").status_code == 200
    opts = get(a1111, "/sdapi/v1/options").json()
    assert opts["CLIP_stop_at_last_layers"] == 1 and opts["samples_format"] == "png"
    assert a1111.config()["generation_seconds"] == 0
    assert a1111.stats()["counts"] == {"GET /sdapi/v1/progress": 1, "GET /sdapi/v1/options": 1}


def test_jpeg_samples_format(a1111: StandIn) -> None:
    post(a1111, "/sdapi/v1/options", {"samples_format": "jpg"})
    resp = txt2img(a1111)
    image = decode(resp.json()["images"][0])
    assert image.format == "JPEG"
    parsed = post(a1111, "/sdapi/v1/png-info", {"image": resp.json()["images"][0]}).json()
    assert parsed["info"] == info_of(resp)["infotexts"][0]


def test_never_crashes_on_garbage(a1111: StandIn) -> None:
    rng = random.Random(1234)
    values = [None, True, -1, 0, 2**70, 1e308, "", "x" * 300, [], {}, [[1, 2]], {"a": [None]}]
    routes = [
        "/sdapi/v1/txt2img",
        "/sdapi/v1/img2img",
        "/sdapi/v1/extra-single-image",
        "/sdapi/v1/png-info",
        "/sdapi/v1/interrogate",
        "/sdapi/v1/options",
    ]
    fields = [f.name for f in schema.TXT2IMG_FIELDS] + ["image", "init_images", "model"]
    for _ in range(60):
        body = {rng.choice(fields): rng.choice(values) for _ in range(rng.randint(0, 4))}
        if body.get("steps") not in (None, True, -1, 0) or "n_iter" in body or "batch_size" in body:
            body["steps"], body["n_iter"], body["batch_size"] = 1, 1, 1
        body.update(width=64, height=64)
        resp = post(a1111, rng.choice(routes), body)
        assert resp.status_code in (200, 400, 404, 422, 500), resp.text[:200]
        if resp.status_code == 500:
            assert set(resp.json()) == {"error", "detail", "body", "errors"}
    for raw in (b"\xff\xfe\x00", b"{" * 5000, b"[" * 100 + b"]" * 100, b"nan", b'"x"'):
        resp = post(
            a1111, "/sdapi/v1/txt2img", data=raw, headers={"content-type": "application/json"}
        )
        assert resp.status_code in (400, 422)
    assert get(a1111, "/sdapi/v1/progress").status_code == 200


def test_stats_record_requests_and_payloads(a1111: StandIn) -> None:
    before = time.time()
    txt2img(a1111, force_task_id="job-1", override_settings={"CLIP_stop_at_last_layers": 2})
    post(a1111, "/sdapi/v1/img2img", {**TINY, "init_images": [png_b64()]})
    stats = a1111.stats()
    assert stats["counts"] == {"POST /sdapi/v1/txt2img": 1, "POST /sdapi/v1/img2img": 1}
    assert [r["path"] for r in stats["requests"]] == ["/sdapi/v1/txt2img", "/sdapi/v1/img2img"]
    assert all(before <= r["t"] <= time.time() for r in stats["requests"])
    sent = stats["payloads"][0]["body"]
    assert sent == {
        **TINY,
        "force_task_id": "job-1",
        "override_settings": {"CLIP_stop_at_last_layers": 2},
    }
    assert "chars>" in stats["payloads"][1]["body"]["init_images"][0]  # long base64 is cut
    assert stats["force_task_ids"] == ["job-1"]
    assert stats["generations"] == 2 and stats["max_concurrent_generations"] == 1


def test_huge_requests_fail_fast_instead_of_eating_memory(a1111: StandIn) -> None:
    started = time.monotonic()
    assert txt2img(a1111, steps=10**9).status_code == 200
    resp = txt2img(a1111, width=100_000, height=100_000)
    assert resp.status_code == 500 and resp.json()["error"] == "OutOfMemoryError"
    resp = txt2img(a1111, batch_size=10**6, n_iter=10**6)
    assert resp.status_code == 500 and resp.json()["error"] == "OutOfMemoryError"
    assert time.monotonic() - started < 5


def test_reset_cuts_short_a_generation_left_running(a1111: StandIn) -> None:
    a1111.config(generation_seconds=30)
    thread, out = run_in_thread(txt2img, a1111, steps=30, timeout=60)
    time.sleep(0.3)
    started = time.monotonic()
    a1111.reset()
    assert txt2img(a1111).status_code == 200  # did not wait 30 s for the queue lock
    assert time.monotonic() - started < 2
    thread.join(5)
    assert out["result"].status_code == 200
    assert get(a1111, "/sdapi/v1/progress").json()["state"]["interrupted"] is False
