"""The job lifecycle on the real A1111: progress with real step counts, timeout and cancel (one
interrupt, the next job works), A1111 killed or frozen mid-job (a bounded answer and
refresh_worker), the result size guard. Jobs run through the runpod SDK's run_job into an
in-process worker, which shows RunPod's exact answer and the progress updates."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import pytest
from runpod.serverless.modules.rp_job import run_job as sdk_run_job

from tests.helpers import Updates, run_job

SMALL = {"prompt": "a lighthouse", "width": 64, "height": 64, "steps": 1, "seed": 3}
# Tens of seconds on 2 CPU cores, long enough to be caught mid-run, in steps short enough
# for an interrupt to take effect well within the grace.
SLOW = {"prompt": "a lighthouse", "width": 96, "height": 96, "steps": 60, "seed": 3}
GRACE = 10.0
# A test here may wait for a whole job, a restart of the engine and its first step.
pytestmark = pytest.mark.timeout(400)


def interrupts(real) -> int:
    return real.requests_logged("/sdapi/v1/interrupt")


def wait_until_sampling(updates: Updates, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not any(u["step"] >= 1 for _, _, u in updates):
        assert time.monotonic() < deadline, "the generation never started sampling"
        time.sleep(0.1)


def test_progress_updates_follow_the_real_steps(real, make_worker):
    updates = Updates()
    job = {**SLOW, "steps": 8, "width": 64, "height": 64}
    result = run_job(make_worker(sink=updates).handle, job)
    assert "output" in result, result
    seen = [u for _, _, u in updates]
    assert seen, "no progress update during an 8-step generation"
    # Before its first step A1111 still shows the last job's count (1, the warm-up's): not sent.
    assert all(u["total_steps"] == (8 if u["step"] else None) for u in seen), seen
    steps = [u["step"] for u in seen]
    assert steps == sorted(steps) and 1 <= steps[-1] <= 8
    assert len(set(steps)) >= 2, steps
    assert result["output"]["info"]["infotexts"][0].count("Steps: 8,") == 1


def test_a_timeout_interrupts_a1111_once_and_the_next_job_works(real, make_worker):
    worker = make_worker(interrupt_grace=GRACE)
    before = interrupts(real)
    started = time.monotonic()
    # Mid-sampling at the timeout, even on a busy machine (preparing a job is not interruptible).
    result = run_job(worker.handle, {**SLOW, "steps": 150, "timeout": 25})
    assert time.monotonic() - started < 25 + GRACE
    assert "timed out after 25 s" in result["error"] and "A1111 was interrupted" in result["error"]
    assert "stopPod" not in result
    assert "output" in run_job(worker.handle, SMALL)
    assert interrupts(real) == before + 1


def test_a_cancel_interrupts_a1111_once_and_the_next_job_works(real, make_worker):
    updates = Updates()
    worker = make_worker(sink=updates)
    before = interrupts(real)

    async def scenario():
        task = asyncio.ensure_future(sdk_run_job(worker.handle, {"id": "c1", "input": SLOW}))
        await asyncio.to_thread(wait_until_sampling, updates)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert "output" in run_job(worker.handle, SMALL)
    assert interrupts(real) == before + 1


def _in_background(worker, job) -> tuple[threading.Thread, dict]:
    answer: dict = {}

    def go():
        started = time.monotonic()
        answer.update(run_job(worker.handle, job))
        answer["_seconds"] = time.monotonic() - started

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    return thread, answer


def test_a1111_killed_mid_job_ends_the_job_with_refresh_worker(real, make_worker):
    updates = Updates()
    worker = make_worker(sink=updates)
    thread, answer = _in_background(worker, {**SLOW, "timeout": 120})
    wait_until_sampling(updates)
    os.kill(real.webui_pid(), signal.SIGKILL)
    thread.join(30)
    assert not thread.is_alive(), "no answer 30 s after A1111 was killed"
    assert "dropped the connection" in answer["error"] or "unreachable" in answer["error"]
    assert answer["stopPod"] is True
    # The next job too: at once, and asking again for a new worker.
    started = time.monotonic()
    again = run_job(worker.handle, SMALL)
    assert time.monotonic() - started < 10
    assert "unreachable" in again["error"] and again["stopPod"] is True


def test_a1111_frozen_mid_job_ends_the_job_with_refresh_worker(real, make_worker):
    updates = Updates()
    worker = make_worker(sink=updates, interrupt_grace=GRACE)
    # Long enough for the first step to come first (preparing a job is not interruptible,
    # and may take a while on a busy machine): the freeze must happen mid-sampling.
    timeout = 90
    thread, answer = _in_background(worker, {**SLOW, "steps": 150, "timeout": timeout})
    wait_until_sampling(updates, timeout=timeout - 20)
    os.kill(real.webui_pid(), signal.SIGSTOP)
    thread.join(timeout + GRACE + 5)
    assert not thread.is_alive(), "no bounded answer from a frozen A1111"
    assert answer["_seconds"] <= timeout + GRACE + 5
    assert "hung" in answer["error"], answer["error"]
    assert answer["stopPod"] is True


def test_the_result_size_guard_on_real_images(real, make_worker):
    worker = make_worker(max_result_bytes=2000)
    result = run_job(worker.handle, {**SMALL, "width": 128, "height": 128})
    assert "over the 0.0 MB RunPod result limit (MAX_RESULT_BYTES)" in result["error"], result
    assert "stopPod" not in result
    assert "output" in run_job(make_worker().handle, SMALL)
