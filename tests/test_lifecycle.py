"""Job lifecycle under faults and load, through the runpod SDK to the stand-in over HTTP:
progress, cancel, timeouts, engine faults, isolation, logs, and 200 jobs from 8 clients."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time

import pytest
import requests
from runpod.serverless.modules.rp_job import run_job as sdk_run_job

from sdworker.config import Settings
from sdworker.worker import Worker
from tests.conftest import JSON_HEADERS
from tests.helpers import Updates, run_job

JOB = {"prompt": "a slow one", "width": 64, "height": 64, "steps": 10}
TXT2IMG = "/sdapi/v1/txt2img"


def make_worker(standin, sink=None, **settings) -> Worker:
    base = {"webui_url": standin.url, "ready_timeout": 10, "progress_interval": 0.2}
    return Worker(
        Settings(**{**base, **settings}), progress_sink=sink if sink is not None else Updates()
    )


def generations(standin) -> int:
    return standin.stats()["counts"].get("POST " + TXT2IMG, 0)


def test_progress_is_sent_while_generating_and_stops_after(a1111):
    a1111.config(generation_seconds=2.0)
    updates = Updates()
    result = run_job(make_worker(a1111, updates).handle, JOB)
    finished = time.monotonic()
    assert "output" in result
    assert len(updates) >= 3
    percents = [u["percent"] for _, _, u in updates]
    assert percents == sorted(percents) and 0 < percents[-1] <= 100
    assert all(u["total_steps"] == (10 if u["step"] else None) for _, _, u in updates)
    assert all(0 <= u["step"] <= 10 for _, _, u in updates)
    assert all("preview" not in u for _, _, u in updates)
    time.sleep(0.6)
    assert all(t <= finished for _, t, _ in updates)


def test_progress_sends_no_stale_step_count_before_sampling(a1111):
    worker = make_worker(a1111)
    assert "output" in run_job(worker.handle, {**JOB, "steps": 2})
    # As on the real engine: while the prompt is conditioned, A1111 shows the last job's steps.
    a1111.config(prepare_seconds=1.0, generation_seconds=0.5)
    updates = Updates()
    assert "output" in run_job(make_worker(a1111, updates).handle, JOB)
    before_sampling = [u for _, _, u in updates if u["step"] == 0]
    assert before_sampling, updates
    assert all(u["total_steps"] is None for u in before_sampling)
    assert {u["total_steps"] for _, _, u in updates if u["step"]} == {10}


def test_progress_previews_only_when_asked(a1111):
    a1111.config(generation_seconds=1.5)
    updates = Updates()
    run_job(make_worker(a1111, updates).handle, {**JOB, "progress_images": True})
    previews = [u["preview"] for _, _, u in updates if u.get("preview")]
    assert previews, updates
    assert all(len(p) < 40_000 for p in previews)


def test_cancel_interrupts_a1111_once(a1111):
    a1111.config(generation_seconds=3.0)
    worker = make_worker(a1111)

    async def scenario():
        task = asyncio.ensure_future(sdk_run_job(worker.handle, {"id": "c1", "input": JOB}))
        await asyncio.sleep(0.8)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    started = time.monotonic()
    asyncio.run(scenario())
    assert time.monotonic() - started < 2.5
    time.sleep(0.3)
    assert a1111.stats()["interrupts"] == 1


def test_job_timeout_interrupts_once_and_is_not_a_restart(a1111):
    a1111.config(generation_seconds=3.0)
    started = time.monotonic()
    result = run_job(make_worker(a1111).handle, {**JOB, "timeout": 0.8})
    assert time.monotonic() - started < 2.5
    assert "timed out after 0.8 s" in result["error"] and "stopPod" not in result
    assert a1111.stats()["interrupts"] == 1


def test_worker_job_timeout_caps_the_jobs_own(a1111):
    a1111.config(generation_seconds=3.0)
    result = run_job(make_worker(a1111, job_timeout=0.6).handle, {**JOB, "timeout": 100})
    assert "timed out after 0.6 s" in result["error"]


def test_a1111_hung_past_the_timeout_asks_for_a_new_worker(a1111):
    a1111.fault(TXT2IMG, "hang", times=1)
    started = time.monotonic()
    worker = make_worker(a1111, interrupt_grace=0.5)
    result = run_job(worker.handle, {**JOB, "timeout": 0.5})
    assert time.monotonic() - started < 3
    assert "hung" in result["error"] and result["stopPod"] is True
    assert a1111.stats()["interrupts"] == 1


def test_a_frozen_a1111_that_does_not_answer_the_interrupt_is_hung_at_once(a1111):
    # A frozen process accepts connections and answers nothing, the interrupt included.
    a1111.fault(TXT2IMG, "hang", times=1)
    a1111.fault("/sdapi/v1/interrupt", "hang", times=1)
    worker = make_worker(a1111, interrupt_grace=8)

    async def answer():
        started = time.monotonic()
        result = await worker.handle({"id": "frozen", "input": {**JOB, "timeout": 0.5}})
        return result, time.monotonic() - started

    result, seconds = asyncio.run(answer())
    # Within the interrupt's own 5 s bound, not after the grace.
    assert seconds < 0.5 + 5 + 1.5, result
    assert "did not answer the interrupt" in result["error"] and result["refresh_worker"] is True


def test_a_queued_job_that_times_out_never_runs(a1111):
    a1111.config(generation_seconds=1.5)
    worker = make_worker(a1111)

    async def scenario():
        slow = sdk_run_job(worker.handle, {"id": "slow", "input": JOB})
        queued = sdk_run_job(worker.handle, {"id": "queued", "input": {**JOB, "timeout": 0.4}})
        return await asyncio.gather(slow, queued)

    slow, queued = asyncio.run(scenario())
    time.sleep(1.0)
    assert "output" in slow and "before it started" in queued["error"]
    assert generations(a1111) == 1
    assert a1111.stats()["interrupts"] == 0


def test_a_burst_of_a1111_failures_asks_for_a_new_worker(a1111):
    a1111.fault(TXT2IMG, "status", status=500, times=3)
    worker = make_worker(a1111, failure_burst=3)
    results = [run_job(worker.handle, JOB) for _ in range(3)]
    assert ["stopPod" in r for r in results] == [False, False, True]
    assert "3 A1111 failures in a row" in results[2]["error"]
    assert "output" in run_job(worker.handle, JOB)


def test_failures_separated_by_a_success_are_not_a_burst(a1111):
    worker = make_worker(a1111, failure_burst=2)
    for _ in range(2):
        a1111.fault(TXT2IMG, "status", status=500, times=1)
        assert "stopPod" not in run_job(worker.handle, JOB)
        assert "output" in run_job(worker.handle, JOB)


def test_override_settings_do_not_leak_into_the_next_job(a1111):
    handler = make_worker(a1111).handle
    first = run_job(handler, {**JOB, "override_settings": {"CLIP_stop_at_last_layers": 2}})
    assert first["output"]["info"]["clip_skip"] == 2
    second = run_job(handler, JOB)
    assert second["output"]["info"]["clip_skip"] == 1
    options = run_job(handler, {"api": "getOptions"})["output"]
    assert options["CLIP_stop_at_last_layers"] == 1
    refused = run_job(handler, {**JOB, "override_settings_restore_afterwards": False})
    assert "setOptions" in refused["error"] and generations(a1111) == 2


def test_one_log_line_per_job_without_prompt_or_images(a1111, caplog):
    handler = make_worker(a1111).handle
    with caplog.at_level(logging.INFO, logger="sdworker"):
        run_job(handler, {**JOB, "steps": 2, "prompt": "secret prompt"})
        run_job(handler, {**JOB, "steps": 0})
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("job id=")]
    summary = [line for line in lines if "outcome=" in line]
    assert len(summary) == 2
    assert "api=txt2img size=64x64 steps=2 images=1" in summary[0] and "outcome=ok" in summary[0]
    assert "outcome=error" in summary[1]
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "secret prompt" not in text and "iVBORw0KGgo" not in text


def test_200_jobs_from_8_clients_each_answered_once(a1111, local_api):
    url, _proc = local_api
    prompts = [f"load job {i}" for i in range(200)]

    def send(prompt):
        body = {"input": {"prompt": prompt, "width": 64, "height": 64, "steps": 1}}
        return requests.post(url + "/runsync", json=body, headers=JSON_HEADERS, timeout=120).json()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, prompts))
    assert all(a["status"] == "COMPLETED" for a in answers), [a for a in answers if "error" in a][
        :3
    ]
    assert len({a["id"] for a in answers}) == 200
    assert [a["output"]["info"]["prompt"] for a in answers] == prompts
    stats = a1111.stats()
    assert stats["counts"]["POST " + TXT2IMG] == 200
    assert stats["max_concurrent_generations"] == 1
