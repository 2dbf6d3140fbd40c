"""ADetailer jobs end to end (runpod SDK -> worker -> stand-in over HTTP): every shape the real
extension would take and then silently not carry out is refused before A1111 sees it.

The stand-in answers ADetailer's own routes as the real v25.3.0 does (its schema, its model
list); tests/real/test_real_adetailer.py shows each case on the real engine.
"""

from __future__ import annotations

import pytest
import requests

from sdworker.config import Settings
from sdworker.worker import Worker
from tests.helpers import run_job

SMALL = {"prompt": "a face", "width": 64, "height": 64, "steps": 1}
TXT2IMG = "POST /sdapi/v1/txt2img"


@pytest.fixture
def handler(a1111):
    return Worker(Settings(webui_url=a1111.url, ready_timeout=10)).handle


def with_adetailer(entry, key: str = "ADetailer") -> dict:
    return {**SMALL, "alwayson_scripts": {key: entry}}


def tab(**fields) -> dict:
    return {"ad_model": "face_yolov8n.pt", **fields}


def refused(handler, a1111, job: dict) -> str:
    result = run_job(handler, job)
    assert "output" not in result, result
    assert "refresh_worker" not in result and "stopPod" not in result
    assert a1111.stats()["counts"].get(TXT2IMG, 0) == 0  # nothing reached A1111
    return result["error"]


@pytest.mark.parametrize(
    "args",
    [
        [tab()],  # a second tab would run with the UI's default model
        [True, tab()],
        [tab(), True, False],
        [True, False],  # no tab at all
        [1, 0, tab()],  # numbers, not booleans
    ],
)
def test_short_or_shifted_args_are_refused_with_the_one_shape(handler, a1111, args):
    error = refused(handler, a1111, with_adetailer({"args": args}))
    assert "alwayson_scripts.ADetailer.args" in error
    assert "[enable, skip_img2img, {tab}, ...]" in error and '"face_yolov8n.pt"' in error


@pytest.mark.parametrize("entry", [[True, False, tab()], {"args": tab()}, {"arg": []}])
def test_anything_but_a_list_under_args_is_refused(handler, a1111, entry):
    error = refused(handler, a1111, with_adetailer(entry))
    assert "alwayson_scripts.ADetailer: must be" in error and "'args'" in error


def test_the_key_is_matched_like_a1111_does_regardless_of_case(handler, a1111):
    error = refused(handler, a1111, with_adetailer({"args": [tab()]}, key="adetailer"))
    assert "alwayson_scripts.adetailer.args" in error


def test_an_unknown_field_is_refused_with_a_suggestion(handler, a1111):
    job = with_adetailer({"args": [True, False, tab(ad_confidense=0.5)]})
    error = refused(handler, a1111, job)
    assert "alwayson_scripts.ADetailer.args[2]: unknown ADetailer field 'ad_confidense'" in error
    assert "Did you mean 'ad_confidence'?" in error and "ad_mask_k" in error


def test_an_unknown_model_is_refused_with_the_installed_ones(handler, a1111):
    job = with_adetailer({"args": [True, False, tab(ad_model="hand_yolov8n.pt")]})
    error = refused(handler, a1111, job)
    assert "args[2].ad_model: unknown ADetailer model 'hand_yolov8n.pt'" in error
    assert "'face_yolov8n.pt'" in error and "'mediapipe_face_full'" in error


def test_a_tab_without_a_model_is_refused(handler, a1111):
    job = with_adetailer({"args": [True, False, {"ad_confidence": 0.5}]})
    error = refused(handler, a1111, job)
    assert "args[2]: no ad_model" in error and "face_yolov8n.pt" in error


def test_enabled_with_every_tab_skipped_is_refused(handler, a1111):
    job = with_adetailer({"args": [True, False, tab(ad_model="None"), tab(ad_tab_enable=False)]})
    error = refused(handler, a1111, job)
    assert "every tab is skipped" in error and "enable false" in error


def test_more_tabs_than_adetailer_has_are_refused(handler, a1111):
    error = refused(handler, a1111, with_adetailer({"args": [True, False, tab(), tab(), tab()]}))
    assert "3 tabs" in error and "ad_max_models" in error and "at most 2" in error


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("ad_confidence", 1.5, "<= 1.0"),
        ("ad_confidence", "high", "must be a number"),
        ("ad_mask_k", True, "must be a whole number"),
        ("ad_mask_k", -1, ">= 0"),
        ("ad_inpaint_width", 0, "> 0"),
        ("ad_mask_filter_method", "Size", "one of Area, Confidence"),
        ("ad_prompt", 3, "must be a string"),
    ],
)
def test_values_outside_adetailers_schema_are_refused(handler, a1111, field, value, says):
    error = refused(handler, a1111, with_adetailer({"args": [True, False, tab(**{field: value})]}))
    assert f"args[2].{field}: " in error and says in error


def test_names_the_inpaint_pass_would_use_are_checked(handler, a1111):
    job = with_adetailer({"args": [True, False, tab(ad_use_sampler=True, ad_sampler="Eulr")]})
    error = refused(handler, a1111, job)
    assert "args[2].ad_sampler: unknown sampler 'Eulr'" in error and "'Euler'" in error
    job = with_adetailer(
        {"args": [True, False, tab(ad_use_checkpoint=True, ad_checkpoint="nope.safetensors")]}
    )
    assert "args[2].ad_checkpoint: unknown model" in refused(handler, a1111, job)


def test_get_adetailer_models_lists_what_ad_model_may_name(handler):
    result = run_job(handler, {"api": "getAdetailerModels"})
    assert result["output"]["ad_model"][:1] == ["mediapipe_face_full"]
    assert "face_yolov8n.pt" in result["output"]["ad_model"]


@pytest.mark.parametrize(
    ("api", "route"),
    [("getUpscalers", "/sdapi/v1/upscalers"), ("getFaceRestorers", "/sdapi/v1/face-restorers")],
)
def test_upscalers_and_face_restorers_say_unknown_when_the_disk_is_out_of_reach(
    handler, a1111, api, route
):
    # A1111's entries as they are, plus `installed`: None here, as the stand-in's folders are
    # not on this machine (tests/real/test_real_tools.py shows true and false).
    listed = run_job(handler, {"api": api})["output"]
    direct = requests.get(a1111.url + route, timeout=5).json()
    assert [{k: v for k, v in e.items() if k != "installed"} for e in listed] == direct
    assert {e["installed"] for e in listed} == {None}
