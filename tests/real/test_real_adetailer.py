"""ADetailer v25.3.0 on the real A1111, offline, through the worker.

The engine's models/adetailer holds tests/engine/tool_weights.py's random YOLOv8n detectors:
face_yolov8n.pt finds nothing, face_yolov8n_always.pt "finds" a face everywhere, so that
ADetailer's whole path (detection, mask, inpaint pass) runs. A1111 carries the image's
scripts/sdworker_torch_threads.py, which keeps torch's CPU thread count where A1111 set it:
without it, ultralytics' first prediction would change it for every later generation (other
pixels for the same seed, and slower).
"""

from __future__ import annotations

import base64
import io

import requests
from PIL import Image

from tests.a1111_standin import adetailer as standin_adetailer

SMALL = {"prompt": "a portrait", "width": 64, "height": 64, "steps": 2, "seed": 21}
FINDS_NOTHING = {"ad_model": "face_yolov8n.pt"}
FINDS_A_FACE = {"ad_model": "face_yolov8n_always.pt", "ad_mask_k": 1}


def with_adetailer(*tabs: dict, enable: bool = True) -> dict:
    return {**SMALL, "alwayson_scripts": {"ADetailer": {"args": [enable, False, *tabs]}}}


def completed(real, job: dict) -> dict:
    answer = real.runsync(job)
    assert answer["status"] == "COMPLETED", answer
    return answer["output"]


def pixels(output: dict) -> bytes:
    data = base64.b64decode(output["images"][0])
    return Image.open(io.BytesIO(data)).convert("RGB").tobytes()


def infotext(output: dict) -> str:
    return output["info"]["infotexts"][0]


def log_mark(real) -> int:
    return len(real.webui_log.read_text(errors="replace"))


def log_since(real, mark: int) -> str:
    return real.webui_log.read_text(errors="replace")[mark:]


# First in this module (the first ADetailer job of a session, as no other module sends one):
# `before` must come from a process that has never run ultralytics.
def test_adetailer_leaves_torchs_thread_count_for_the_jobs_after_it(real):
    before = completed(real, SMALL)
    completed(real, with_adetailer(FINDS_A_FACE))
    completed(real, with_adetailer(FINDS_NOTHING))
    after = completed(real, SMALL)
    # ultralytics would have set min(8, cpu_count - 1) threads, another count than A1111's: the
    # script gave it A1111's at the warm-up, and the same request gives the same pixels again.
    assert "sdworker: ultralytics keeps torch at" in real.webui_log.read_text(errors="replace")
    assert pixels(after) == pixels(before)


def test_the_standins_adetailer_routes_answer_as_the_real_ones(real):
    def get(route):
        return requests.get(real.webui_url + route, timeout=30).json()

    assert get("/adetailer/v1/schema") == standin_adetailer.SCHEMA
    assert get("/adetailer/v1/ad_model") == {"ad_model": list(standin_adetailer.MODELS)}
    assert get("/adetailer/v1/version") == {"version": standin_adetailer.VERSION}
    assert completed(real, {"api": "getAdetailerModels"}) == get("/adetailer/v1/ad_model")


def test_a_detector_that_finds_nothing_runs_and_leaves_the_image(real):
    plain = completed(real, SMALL)
    mark = log_mark(real)
    detailed = completed(real, with_adetailer(FINDS_NOTHING))
    assert "ADetailer model: face_yolov8n.pt" in infotext(detailed)
    assert "nothing detected on image 1" in log_since(real, mark)
    assert pixels(detailed) == pixels(plain)


def test_a_forced_detection_runs_the_inpaint_pass(real):
    plain = completed(real, SMALL)
    mark = log_mark(real)
    detailed = completed(real, with_adetailer(FINDS_A_FACE))
    log = log_since(real, mark)
    assert "300 faces" in log and "nothing detected" not in log
    assert "ADetailer model: face_yolov8n_always.pt" in infotext(detailed)
    assert "ADetailer mask only top k: 1" in infotext(detailed)
    assert pixels(detailed) != pixels(plain)  # the face was inpainted


def direct(real, body: dict) -> dict:
    resp = requests.post(real.webui_url + "/sdapi/v1/txt2img", json=body, timeout=300)
    assert resp.status_code == 200, resp.text[:300]
    return resp.json()


def refused(real, job: dict) -> str:
    seen = real.requests_logged("/sdapi/v1/txt2img")
    answer = real.runsync(job)
    assert answer["status"] == "FAILED", answer
    assert "refresh_worker" not in answer and "stopPod" not in answer
    assert real.requests_logged("/sdapi/v1/txt2img") == seen
    return answer["error"]


def test_an_unknown_field_silently_disables_adetailer_on_a1111_and_is_refused_here(real):
    job = with_adetailer({**FINDS_A_FACE, "ad_confidense": 0.5})
    assert "ADetailer" not in direct(real, job)["info"]  # switched off, without a word
    error = refused(real, job)
    assert "unknown ADetailer field 'ad_confidense'" in error and "'ad_confidence'" in error


def test_an_unknown_model_is_skipped_on_a1111_and_refused_here(real):
    job = with_adetailer({"ad_model": "hand_yolov8n.pt"})
    # The infotext claims the model although ADetailer only logged an error.
    assert "ADetailer model: hand_yolov8n.pt" in direct(real, job)["info"]
    error = refused(real, job)
    assert "unknown ADetailer model 'hand_yolov8n.pt'" in error and "face_yolov8n.pt" in error


def test_the_short_form_runs_a_second_tab_on_a1111_and_is_refused_here(real):
    job = {**SMALL, "alwayson_scripts": {"ADetailer": {"args": [FINDS_NOTHING]}}}
    assert "ADetailer model 2nd" in direct(real, job)["info"]  # a tab nobody asked for
    assert "[enable, skip_img2img, {tab}, ...]" in refused(real, job)


def test_a_tab_without_a_model_is_skipped_on_a1111_and_refused_here(real):
    job = with_adetailer({"ad_confidence": 0.5})
    assert "ADetailer" not in direct(real, job)["info"]
    assert "no ad_model" in refused(real, job)
