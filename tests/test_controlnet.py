"""ControlNet end to end on the stand-in (runpod SDK run_job -> worker -> stand-in over HTTP),
and the checks that need files on disk, on a temporary tree laid out as A1111's."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from sdworker.config import Settings
from sdworker.controlnet import annotators, families
from sdworker.controlnet.checks import check_sliders
from sdworker.errors import JobError
from sdworker.worker import Worker
from tests.a1111_standin.catalog import DEFAULT_CONTROLNET_MODELS
from tests.helpers import decode_png, png_b64, run_job, serve_files
from tests.s3_server import S3Server

TXT2IMG = "POST /sdapi/v1/txt2img"
CANNY = DEFAULT_CONTROLNET_MODELS[0]
SMALL = {"prompt": "a box", "width": 64, "height": 96, "steps": 1, "seed": 7}


@pytest.fixture
def image_host():
    files = {"/box.png": base64.b64decode(png_b64(48, 48))}
    with serve_files(files) as url:
        yield url


@pytest.fixture
def handler(a1111):
    return Worker(Settings(webui_url=a1111.url, ready_timeout=10)).handle


def unit(**fields) -> dict:
    return {"module": "canny", "model": CANNY, "image": png_b64(32, 32), **fields}


def with_units(*units, key: str = "controlnet", **job) -> dict:
    return {**SMALL, **job, "alwayson_scripts": {key: {"args": list(units)}}}


def output_of(result: dict) -> dict:
    assert "error" not in result, result.get("error")
    return result["output"]


def refused(handler, a1111, job: dict, route: str = TXT2IMG) -> str:
    before = a1111.stats()["counts"].get(route, 0)
    result = run_job(handler, job)
    assert "output" not in result, result
    assert "refresh_worker" not in result and "stopPod" not in result
    assert a1111.stats()["counts"].get(route, 0) == before  # A1111 never saw it
    return result["error"]


# --- a unit that works -----------------------------------------------------------------------


def test_a_unit_without_enabled_is_applied_and_its_map_kept_apart(handler):
    out = output_of(run_job(handler, with_units(unit())))
    assert len(out["images"]) == 1 and len(out["controlnet_maps"]) == 1
    assert decode_png(out["images"][0]).size == (64, 96)
    assert decode_png(out["controlnet_maps"][0]).size == (64, 96)
    assert [d["seed"] for d in out["image_details"]] == [7]


def test_maps_follow_the_generations_of_a_batch_and_the_key_may_be_any_case(handler):
    job = with_units(unit(), unit(model="control_v11p_sd15_canny"), key="ControlNet")
    out = output_of(run_job(handler, {**job, "batch_size": 2}))
    assert len(out["images"]) == 2 and len(out["controlnet_maps"]) == 2
    assert [d["seed"] for d in out["image_details"]] == [7, 8]


def test_maps_can_be_dropped_per_unit(handler):
    out = output_of(run_job(handler, with_units(unit(save_detected_map=False))))
    assert len(out["images"]) == 1 and out["controlnet_maps"] == []


def test_with_url_output_the_maps_are_uploaded_too(a1111):
    s3 = S3Server()
    try:
        worker = Worker(Settings(webui_url=a1111.url, ready_timeout=10, bucket=s3.bucket()))
        out = output_of(run_job(worker.handle, {**with_units(unit()), "output": "url"}))
        job_id = out["images"][0].split(s3.url + "/worker-output/")[1].split("/")[0]
        assert sorted(s3.objects(job_id)) == [f"{job_id}/0.png", f"{job_id}/controlnet-map-0.png"]
        assert out["controlnet_maps"][0].startswith(s3.url)
    finally:
        s3.stop()


def test_a_disabled_unit_is_passed_on_unchecked_and_adds_no_map(handler, a1111):
    out = output_of(run_job(handler, with_units(unit(enabled=False, model="not installed"))))
    assert len(out["images"]) == 1 and out["controlnet_maps"] == []
    # ... but the extension validates its module all the same (HTTP 500 otherwise).
    error = refused(handler, a1111, with_units(unit(enabled=False, module="nope")))
    assert "args[0].module" in error and "unknown ControlNet module" in error


def test_img2img_needs_no_unit_image(handler):
    job = {
        **with_units(unit(image=None), api="img2img"),
        "init_images": [png_b64(64, 96)],
        "denoising_strength": 0.5,
    }
    job["alwayson_scripts"]["controlnet"]["args"][0].pop("image")
    out = output_of(run_job(handler, job))
    assert len(out["images"]) == 1 and len(out["controlnet_maps"]) == 1


def test_a_module_may_be_named_by_its_label(handler):
    label = "lineart_standard (from white bg & black line)"
    out = output_of(run_job(handler, with_units(unit(module=label))))
    assert len(out["controlnet_maps"]) == 1


def test_unit_images_may_be_urls(handler, a1111, image_host, monkeypatch):
    # The SDK's own switch for trusted private hosts; this test's host is loopback.
    monkeypatch.setenv("RUNPOD_ALLOW_PRIVATE_DOWNLOAD_URLS", "true")
    job = with_units(unit(image={"image": image_host + "/box.png", "mask": None}))
    out = output_of(run_job(handler, job))
    assert len(out["controlnet_maps"]) == 1
    error = refused(handler, a1111, with_units(unit(image=image_host + "/nope.png")))
    assert "alwayson_scripts.controlnet.args[0].image" in error and "HTTP 404" in error


# --- refusals before A1111 -------------------------------------------------------------------


def test_an_unknown_model_is_refused_with_the_installed_ones(handler, a1111):
    error = refused(handler, a1111, with_units(unit(), unit(model="control_v11p_sd15_depth")))
    assert "alwayson_scripts.controlnet.args[1].model" in error
    assert "control_v11p_sd15_depth" in error and CANNY in error


def test_no_model_for_a_module_that_needs_one_is_refused(handler, a1111):
    error = refused(handler, a1111, with_units(unit(model="None")))
    assert "args[0].model" in error and "needs a ControlNet model" in error


def test_no_image_in_txt2img_is_refused(handler, a1111):
    bare = unit()
    bare.pop("image")
    error = refused(handler, a1111, with_units(bare))
    assert "args[0].image" in error and "init_images" in error


def test_more_units_than_slots_is_refused(handler, a1111):
    error = refused(handler, a1111, with_units(*[unit()] * 4))
    assert "4 units" in error and "3 slots" in error


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"module": "no_such_module"}, ["args[0].module", "unknown ControlNet module", "'canny'"]),
        ({"module": "depth_anything"}, ["args[0].module", "depth_anything", "Python package"]),
        ({"weight": 3}, ["args[0].weight", "0..2"]),
        ({"threshold_a": 300}, ["args[0].threshold_a", "1..255", "default"]),
        ({"processor_res": 16}, ["args[0].processor_res", "64..2048"]),
        ({"module": "none", "threshold_a": 0.5}, ["args[0].threshold_a", "no such setting"]),
        ({"guidance_start": 0.8, "guidance_end": 0.2}, ["args[0]", "guidance_start"]),
        ({"control_mode": 2}, ["args[0].control_mode", "ControlNet is more important"]),
        ({"input_image": png_b64()}, ["args[0].input_image", "write 'image'"]),
        ({"ipadapter_input": "AAAA"}, ["args[0].ipadapter_input", "torch.load"]),
        ({"batch_images": "/data"}, ["args[0].batch_images", "server's disk"]),
        ({"guidence_end": 0.5}, ["args[0].guidence_end", "unknown field", "guidance_end"]),
        ({"image": "/etc/passwd"}, ["args[0].image", "base64"]),
    ],
)
def test_a_bad_unit_is_refused_naming_unit_and_field(handler, a1111, fields, words):
    error = refused(handler, a1111, with_units(unit(), unit(**fields)).copy())
    for word in words:
        assert word.replace("args[0]", "args[1]") in error, error


@pytest.mark.parametrize(
    "entry", [[unit()], {"args": unit()}, {"args": [unit()], "enabled": True}, {"units": []}]
)
def test_units_not_under_args_as_a_list_are_refused(handler, a1111, entry):
    error = refused(handler, a1111, {**SMALL, "alwayson_scripts": {"controlnet": entry}})
    assert 'alwayson_scripts.controlnet: must be {"args": [unit, ...]}' in error


def test_a_worker_without_the_extension_says_so(handler, a1111):
    a1111.config(controlnet=False)
    error = refused(handler, a1111, with_units(unit()))
    assert "ControlNet is not installed" in error
    for api in ("getControlNetModels", "getControlNetModules", "getControlNetTypes"):
        assert "ControlNet is not installed" in run_job(handler, {"api": api})["error"]


# --- operations ------------------------------------------------------------------------------


def test_the_lists(handler):
    models = output_of(run_job(handler, {"api": "getControlNetModels"}))
    assert models == {"model_list": [CANNY]}
    modules = output_of(run_job(handler, {"api": "getControlNetModules"}))
    assert "canny" in modules["module_list"]
    assert modules["module_detail"]["canny"]["sliders"][1]["name"] == "Low Threshold"
    types = output_of(run_job(handler, {"api": "getControlNetTypes"}))["control_types"]
    assert types["Canny"]["default_option"] == "canny" and CANNY in types["Canny"]["model_list"]


def test_detect_runs_a_preprocessor(handler):
    job = {
        "api": "controlNetDetect",
        "controlnet_module": "canny",
        "controlnet_input_images": [png_b64(64, 64)],
        "controlnet_processor_res": 64,
    }
    out = output_of(run_job(handler, job))
    assert out["info"] == "Success" and decode_png(out["images"][0]).size == (64, 64)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"controlnet_module": "nope"}, ["controlnet_module", "unknown ControlNet module"]),
        ({"controlnet_module": "clip_vision"}, ["controlnet_module", "embedding"]),
        ({"controlnet_threshold_a": 0}, ["controlnet_threshold_a", "1..255"]),
        ({"controlnet_masks": [png_b64(), png_b64()]}, ["controlnet_masks", "one mask per image"]),
        ({"controlnet_input_images": []}, ["controlnet_input_images"]),
    ],
)
def test_detect_refusals(handler, a1111, fields, words):
    job = {
        "api": "controlNetDetect",
        "controlnet_module": "canny",
        "controlnet_input_images": [png_b64()],
        **fields,
    }
    error = refused(handler, a1111, job, "POST /controlnet/detect")
    for word in words:
        assert word in error, error


# --- on disk: annotator weights and model families -------------------------------------------


def test_annotator_weights_are_looked_for_where_the_extension_looks(tmp_path):
    root = annotators.annotator_dir(str(tmp_path), None, None)
    assert root == tmp_path / "extensions/sd-webui-controlnet/annotator/downloads"
    assert annotators.annotator_dir(str(tmp_path), "/abs/flag", None) == Path("/abs/flag")
    assert annotators.annotator_dir(str(tmp_path), "/abs/flag", "rel") == tmp_path / "rel"
    lacking = annotators.missing("openpose_hand", root)
    assert [a.file for a in lacking] == ["body_pose_model.pth", "hand_pose_model.pth"]
    (root / "openpose").mkdir(parents=True)
    (root / "openpose" / "body_pose_model.pth").write_bytes(b"x")
    assert [a.file for a in annotators.missing("openpose_hand", root)] == ["hand_pose_model.pth"]
    assert annotators.missing("canny", root) == []


def _safetensors_with_context(path: Path, context: int) -> Path:
    header = {
        "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": {
            "dtype": "F16",
            "shape": [320, context],
            "data_offsets": [0, 0],
        }
    }
    raw = json.dumps(header).encode()
    path.write_bytes(len(raw).to_bytes(8, "little") + raw)
    return path


@pytest.mark.parametrize(("context", "family"), [(768, "SD1.x"), (1024, "SD2.x"), (2048, "SDXL")])
def test_the_family_is_read_from_the_header(tmp_path, context, family):
    assert families.family(_safetensors_with_context(tmp_path / "m.safetensors", context)) == family
    assert families.family(tmp_path / "m.pth") is None


def test_a_controlnet_file_is_found_in_the_folders_the_extension_scans(tmp_path):
    folder = tmp_path / "models" / "ControlNet" / "runpod-volume"
    folder.mkdir(parents=True)
    made = _safetensors_with_context(folder / "control_sdxl_canny.safetensors", 2048)
    found = families.controlnet_file("control_sdxl_canny", {"data_dir": str(tmp_path)}, {})
    assert found == made


def test_sliders_are_matched_to_fields_by_position():
    detail = {
        "sliders": [
            {"name": "Resolution", "value": 512, "min": 64, "max": 2048, "step": 8},
            {"name": "Low Threshold", "value": 100, "min": 1, "max": 255, "step": 1},
        ]
    }
    check_sliders("u.", "canny", detail, (512, 100, -1))
    with pytest.raises(JobError, match=r"u\.threshold_b: preprocessor 'canny' has no such"):
        check_sliders("u.", "canny", detail, (512, 100, 5))


def test_the_readme_lists_every_unit_field():
    from sdworker.controlnet.units import ControlNetUnit

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("### ControlNet") : readme.index("### Output of `txt2img`")]
    for name in ControlNetUnit.model_fields:
        assert f"`{name}`" in section, name
