"""The README's way of running the worker: `python src/handler.py --rp_serve_api` + /runsync,
with every test_input*.json, against the stand-in A1111 over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from sdworker.config import Settings
from sdworker.worker import Worker
from tests.conftest import JSON_HEADERS
from tests.helpers import check_output, png_b64, run_job

ROOT = Path(__file__).resolve().parents[1]
INPUT_FILES = sorted(ROOT.glob("test_input*.json"))


def test_there_are_six_inputs():
    names = {p.name for p in INPUT_FILES}
    assert len(names) == 6
    for part in ("img2img", "loras", "options", "lora", "lora_img2img"):
        assert f"test_input_{part}.json" in names


@pytest.mark.parametrize("path", INPUT_FILES, ids=lambda p: p.name)
def test_each_input_through_run_job(a1111, path):
    handler = Worker(Settings(webui_url=a1111.url, ready_timeout=10)).handle
    result = run_job(handler, json.loads(path.read_text())["input"])
    assert "error" not in result, result
    check_output(path.name, result["output"])


def test_local_api_server_answers_every_input(local_api):
    url, _proc = local_api
    for path in INPUT_FILES:
        resp = requests.post(
            url + "/runsync", data=path.read_bytes(), headers=JSON_HEADERS, timeout=60
        )
        body = resp.json()
        assert body["status"] == "COMPLETED", (path.name, body)
        check_output(path.name, body["output"])


def test_local_api_server_reports_bad_input_and_keeps_serving(local_api):
    url, _proc = local_api
    bad = requests.post(url + "/runsync", json={"input": {"setps": 5}}, timeout=30).json()
    assert bad["status"] == "FAILED" and "did you mean 'steps'" in bad["error"]
    good = requests.post(url + "/runsync", json={"input": {"width": 64, "height": 64}}, timeout=60)
    assert good.json()["status"] == "COMPLETED"


def test_error_messages_show_the_limits_set_on_the_worker(local_api_with):
    url, _proc = local_api_with(MAX_DIMENSION="512", JOB_TIMEOUT="100", MAX_IMAGE_BYTES="100")

    def error(job_input: dict) -> str:
        body = requests.post(url + "/runsync", json={"input": job_input}, timeout=30).json()
        assert body["status"] == "FAILED", body
        return body["error"]

    wide = error({"width": 1024, "height": 64})
    assert "from 64 to 512 (got 1024)" in wide and "MAX_DIMENSION (512 on this worker)" in wide
    assert "2048" not in wide
    slow = error({"timeout": 5000})
    assert "JOB_TIMEOUT (100 on this worker)" in slow and "580" not in slow
    big = error({"api": "img2img", "init_images": [png_b64(64, 64)]})
    assert "MAX_IMAGE_BYTES (100 bytes on this worker)" in big
