"""Every operation end to end: runpod SDK (run_job) -> worker -> stand-in A1111 over HTTP."""

from __future__ import annotations

import json

import pytest
import requests

from sdworker.config import Settings
from sdworker.worker import Worker
from tests.helpers import decode_png, png_b64, run_job

TXT2IMG = "POST /sdapi/v1/txt2img"


@pytest.fixture
def handler(a1111):
    return Worker(Settings(webui_url=a1111.url, ready_timeout=10)).handle


def output_of(result: dict):
    assert "error" not in result, result.get("error")
    return result["output"]


def error_of(result: dict) -> str:
    assert "output" not in result, result
    assert isinstance(result["error"], str)
    return result["error"]


def sent(a1111, key: str = TXT2IMG) -> int:
    return a1111.stats()["counts"].get(key, 0)


def test_txt2img_returns_pngs_of_the_requested_size(handler):
    out = output_of(
        run_job(handler, {"prompt": "a cat", "width": 64, "height": 96, "steps": 2, "seed": 5})
    )
    assert len(out["images"]) == 1
    img = decode_png(out["images"][0])
    assert img.format == "PNG" and img.size == (64, 96)
    assert isinstance(out["info"], dict) and out["info"]["seed"] == 5
    assert out["parameters"]["steps"] == 2


def test_txt2img_is_the_default_api_and_batches(handler, a1111):
    out = output_of(run_job(handler, {"prompt": "x", "width": 64, "height": 64, "batch_size": 2}))
    assert len(out["images"]) == 2
    assert out["info"]["all_seeds"][1] == out["info"]["all_seeds"][0] + 1
    assert sent(a1111) == 1


@pytest.mark.parametrize("prefix", ["", "data:image/png;base64,"])
def test_img2img(handler, prefix):
    job = {
        "api": "img2img",
        "prompt": "x",
        "init_images": [prefix + png_b64(64, 64)],
        "mask": png_b64(64, 64, (255, 255, 255)),
        "denoising_strength": 0.4,
        "width": 64,
        "height": 64,
        "steps": 1,
    }
    out = output_of(run_job(handler, job))
    assert decode_png(out["images"][0]).size == (64, 64)
    assert out["parameters"]["denoising_strength"] == 0.4


@pytest.mark.parametrize(
    ("api", "route"),
    [
        ("getLoras", "/sdapi/v1/loras"),
        ("getOptions", "/sdapi/v1/options"),
        ("getModels", "/sdapi/v1/sd-models"),
        ("getVaes", "/sdapi/v1/sd-vae"),
        ("getSamplers", "/sdapi/v1/samplers"),
        ("getSchedulers", "/sdapi/v1/schedulers"),
        ("getEmbeddings", "/sdapi/v1/embeddings"),
    ],
)
def test_list_operations_return_what_a1111_lists(handler, a1111, api, route):
    out = output_of(run_job(handler, {"api": api}))
    assert out == requests.get(a1111.url + route, timeout=5).json()


def test_get_memory_has_a1111_memory_shape(handler, a1111):
    out = output_of(run_job(handler, {"api": "getMemory"}))
    direct = requests.get(a1111.url + "/sdapi/v1/memory", timeout=5).json()
    assert out.keys() == direct.keys() and out["ram"].keys() == direct["ram"].keys()


def test_get_loras_lists_lcm_and_detail_tweaker(handler):
    names = {item["name"] for item in output_of(run_job(handler, {"api": "getLoras"}))}
    assert {"lcm", "detail-tweaker"} <= names


@pytest.mark.parametrize(
    ("api", "route"),
    [
        ("refreshLoras", "/sdapi/v1/refresh-loras"),
        ("refreshCheckpoints", "/sdapi/v1/refresh-checkpoints"),
    ],
)
def test_refresh_operations_rescan_then_list(handler, a1111, api, route):
    out = output_of(run_job(handler, {"api": api}))
    assert isinstance(out, list) and out
    assert sent(a1111, f"POST {route}") == 1


def test_operations_without_parameters_refuse_parameters(handler, a1111):
    assert "unknown field 'foo'" in error_of(run_job(handler, {"api": "getLoras", "foo": 1}))


def test_unknown_api_lists_the_valid_ones(handler):
    message = error_of(run_job(handler, {"api": "txt2image"}))
    assert "txt2image" in message and "txt2img" in message and "getSchedulers" in message


def test_set_options_changes_and_reports_and_persists(handler, a1111):
    out = output_of(run_job(handler, {"api": "setOptions", "CLIP_stop_at_last_layers": 2}))
    assert out["changed"]["CLIP_stop_at_last_layers"]["to"] == 2
    options = output_of(run_job(handler, {"api": "getOptions"}))
    assert options["CLIP_stop_at_last_layers"] == 2
    info = output_of(run_job(handler, {"prompt": "x", "width": 64, "height": 64, "steps": 1}))
    assert info["info"]["clip_skip"] == 2


def test_set_options_model_must_exist(handler, a1111):
    models = requests.get(a1111.url + "/sdapi/v1/sd-models", timeout=5).json()
    title = models[-1]["title"]
    out = output_of(run_job(handler, {"api": "setOptions", "sd_model_checkpoint": title}))
    assert out["options"]["sd_model_checkpoint"] == title
    message = error_of(run_job(handler, {"api": "setOptions", "sd_model_checkpoint": "nope.ckpt"}))
    assert "nope.ckpt" in message and title in message
    assert sent(a1111, "POST /sdapi/v1/refresh-checkpoints") == 1


@pytest.mark.parametrize(
    ("job", "words"),
    [
        ({"outdir_txt2img_samples": "/etc"}, ["outdir_txt2img_samples"]),
        ({"temp_dir": "/tmp"}, ["temp_dir"]),
        ({"no_such_option": 1}, ["no_such_option"]),
        # real A1111 options (getOptions lists them) that the worker will not set, and why
        (
            {"outdir_samples": "/tmp"},
            ["'outdir_samples' is an A1111 option", "cannot be set", "path or directory"],
        ),
        (
            {"samples_save": False},
            ["'samples_save' is an A1111 option", "allow-list", "override_settings", "eta_ddim"],
        ),
        ({"CLIP_stop_at_last_layer": 2}, ["unknown option", "mean 'CLIP_stop_at_last_layers'"]),
        ({"CLIP_stop_at_last_layers": "abc"}, ["CLIP_stop_at_last_layers", "integer"]),
        ({"sd_vae": "missing.vae.pt"}, ["sd_vae", "Automatic"]),
        ({}, ["at least one option", "sd_model_checkpoint"]),
    ],
)
def test_set_options_refusals_send_nothing(handler, a1111, job, words):
    message = error_of(run_job(handler, {"api": "setOptions", **job}))
    for word in words:
        assert word in message
    if "A1111 option" in message:
        assert set(job) <= set(output_of(run_job(handler, {"api": "getOptions"})))
        assert "unknown" not in message and "did you mean" not in message.lower()
    assert sent(a1111, "POST /sdapi/v1/options") == 0


def test_extras_upscales(handler):
    out = output_of(
        run_job(
            handler,
            {
                "api": "extras",
                "image": png_b64(32, 32),
                "upscaling_resize": 2,
                "upscaler_1": "Lanczos",
            },
        )
    )
    assert decode_png(out["image"]).size == (64, 64)


def test_png_info_reads_back_the_generation_parameters(handler):
    image = output_of(run_job(handler, {"prompt": "a red fox", "width": 64, "height": 64}))[
        "images"
    ][0]
    out = output_of(run_job(handler, {"api": "pngInfo", "image": image}))
    assert "a red fox" in out["info"]


def test_interrogate_returns_a_caption(handler):
    out = output_of(run_job(handler, {"api": "interrogate", "image": png_b64()}))
    assert isinstance(out["caption"], str) and out["caption"]


# --- bad input: a clear error, nothing sent to A1111, and the worker keeps serving ------------


@pytest.mark.parametrize(
    ("job", "words"),
    [
        ({"sampler_name": "NoSuchSampler"}, ["sampler_name", "NoSuchSampler", "Euler a", "LCM"]),
        ({"sampler_name": "DPM++ 2M Karras"}, ["'DPM++ 2M'", "scheduler 'Karras'"]),
        ({"sampler_name": "euler a"}, ["Did you mean 'Euler a'"]),
        ({"scheduler": "NoSuchScheduler"}, ["scheduler", "NoSuchScheduler", "karras"]),
        ({"prompt": "a cat <lora:doesnotexist:1.0>"}, ["doesnotexist", "lcm", "detail-tweaker"]),
        ({"prompt": "a cat <lora:lcm:strong>"}, ["weight", "strong"]),
        ({"prompt": "a cat <LoRA:lcm:1>"}, ["<lora:...>", "<LoRA:...>"]),
        (
            {"hr_prompt": "<lora:nope:1>", "enable_hr": True, "denoising_strength": 0.5},
            ["hr_prompt", "nope"],
        ),
        (
            {"override_settings": {"CLIP_stop_at_last_layer": 2}},
            ["Did you mean 'CLIP_stop_at_last_layers'"],
        ),
        ({"override_settings": {"outdir_samples": "/root"}}, ["outdir_samples", "path"]),
        (
            {"override_settings": {"sd_model_checkpoint": "x.ckpt"}},
            ["sd_model_checkpoint", "x.ckpt"],
        ),
        (
            {"hr_upscaler": "Nope", "enable_hr": True, "denoising_strength": 0.5},
            ["hr_upscaler", "Latent"],
        ),
        ({"setps": 20}, ["did you mean 'steps'"]),
        ({"width": 65}, ["width", "multiple of 8"]),
        ({"steps": 0}, ["steps"]),
    ],
)
def test_bad_generation_input_is_refused_before_a1111(handler, a1111, job, words):
    message = error_of(run_job(handler, {"width": 64, "height": 64, **job}))
    for word in words:
        assert word in message, message
    assert sent(a1111) == 0
    assert output_of(run_job(handler, {"prompt": "next job", "width": 64, "height": 64}))["images"]


def test_sampler_and_scheduler_names_as_a1111_accepts_them(handler, a1111):
    job = {"prompt": "x", "width": 64, "height": 64, "sampler_name": "DPM++ 2M"}
    for scheduler in ("Karras", "karras", "sgm_uniform"):
        output_of(run_job(handler, {**job, "scheduler": scheduler}))
    output_of(run_job(handler, {**job, "prompt": "<lyco:lcm:0.5> <hypernet:x:1> <lora:lcm>"}))
    assert sent(a1111) == 4


def test_a_lora_added_after_start_is_found_by_one_refresh(handler, a1111):
    output_of(run_job(handler, {"prompt": "<lora:lcm:0.8>", "width": 64, "height": 64}))
    a1111.config(loras=["lcm", "detail-tweaker", "new-style"])
    output_of(run_job(handler, {"prompt": "<lora:new-style:0.8>", "width": 64, "height": 64}))
    assert sent(a1111, "POST /sdapi/v1/refresh-loras") == 1
    assert sent(a1111, "GET /sdapi/v1/loras") == 2


def test_bad_img2img_images_are_refused_before_a1111(handler, a1111):
    message = error_of(run_job(handler, {"api": "img2img", "init_images": ["not-base64!!!"]}))
    assert "init_images.0" in message
    message = error_of(run_job(handler, {"api": "img2img", "prompt": "x"}))
    assert "init_images" in message and "required" in message.lower()
    assert sent(a1111, "POST /sdapi/v1/img2img") == 0


def test_extras_unknown_upscaler_lists_the_installed_ones(handler, a1111):
    message = error_of(
        run_job(handler, {"api": "extras", "image": png_b64(), "upscaler_1": "Nope"})
    )
    assert "upscaler_1" in message and "Lanczos" in message
    assert sent(a1111, "POST /sdapi/v1/extra-single-image") == 0


def test_extras_second_upscaler_needs_a_visibility(handler, a1111):
    job = {"api": "extras", "image": png_b64(), "upscaler_1": "Lanczos", "upscaler_2": "Nearest"}
    assert "extras_upscaler_2_visibility is 0" in error_of(run_job(handler, job))
    assert sent(a1111, "POST /sdapi/v1/extra-single-image") == 0
    output_of(run_job(handler, {**job, "extras_upscaler_2_visibility": 0.5}))


def test_input_must_be_an_object(handler):
    assert "JSON object" in error_of(run_job(handler, ["a", "list"]))


def test_results_are_json_serialisable(handler):
    out = output_of(run_job(handler, {"prompt": "x", "width": 64, "height": 64}))
    json.dumps(out)


def test_warm_catalog_spares_the_first_job_its_lookups(a1111):
    worker = Worker(Settings(webui_url=a1111.url, ready_timeout=10))
    worker.context.catalog.warm()
    before = a1111.stats()["counts"]
    job = {"prompt": "<lora:lcm:1>", "sampler_name": "LCM", "scheduler": "karras"}
    output_of(run_job(worker.handle, {**job, "width": 64, "height": 64}))
    after = a1111.stats()["counts"]
    new = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    new.pop("GET /sdapi/v1/progress", None)  # the readiness probe
    assert new == {"POST /sdapi/v1/txt2img": 1}
