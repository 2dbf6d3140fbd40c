"""Engine faults and readiness: clear errors, a restart only when A1111 broke, bounded waits."""

from __future__ import annotations

import time

import pytest

from sdworker.config import Settings
from sdworker.worker import Worker
from tests.helpers import run_job

JOB = {"prompt": "x", "width": 64, "height": 64, "steps": 1}
TXT2IMG = "/sdapi/v1/txt2img"


def worker_for(standin, **settings) -> Worker:
    return Worker(Settings(webui_url=standin.url, **{"ready_timeout": 10, **settings}))


def count(standin, key: str) -> int:
    return standin.stats()["counts"].get(key, 0)


def test_connection_dropped_mid_generation_is_never_resent(a1111):
    a1111.fault(TXT2IMG, "close", times=1)
    result = run_job(worker_for(a1111).handle, JOB)
    assert "dropped the connection" in result["error"]
    assert result["stopPod"] is True
    assert count(a1111, "POST " + TXT2IMG) == 1


def test_a_gateway_error_on_a_generation_is_not_resent(a1111):
    a1111.fault(TXT2IMG, "status", status=502, body={"detail": "Bad Gateway"}, times=1)
    result = run_job(worker_for(a1111).handle, JOB)
    assert "502" in result["error"] and result["stopPod"] is True
    assert count(a1111, "POST " + TXT2IMG) == 1


def test_reads_are_retried_through_a_transient_failure(a1111):
    a1111.fault("/sdapi/v1/samplers", "status", status=503, body={"detail": "busy"}, times=1)
    result = run_job(worker_for(a1111).handle, {"api": "getSamplers"})
    assert len(result["output"]) == 19
    assert count(a1111, "GET /sdapi/v1/samplers") == 2


def test_reads_are_retried_after_a_dropped_connection(a1111):
    a1111.fault("/sdapi/v1/loras", "close", times=1)
    result = run_job(worker_for(a1111).handle, {"api": "getLoras"})
    assert {"lcm", "detail-tweaker"} <= {item["name"] for item in result["output"]}


def test_a1111_exception_is_a_job_error_not_a_restart(a1111):
    body = {"error": "OutOfMemoryError", "detail": "", "body": "", "errors": "CUDA out of memory."}
    a1111.fault(TXT2IMG, "status", status=500, body=body, times=1)
    worker = worker_for(a1111)
    result = run_job(worker.handle, JOB)
    assert "OutOfMemoryError" in result["error"] and "CUDA out of memory" in result["error"]
    assert "stopPod" not in result
    assert "output" in run_job(worker.handle, JOB)


def test_a_hung_generation_ends_at_the_timeout_with_a_restart(a1111):
    a1111.fault(TXT2IMG, "hang", times=1)
    started = time.monotonic()
    result = run_job(worker_for(a1111, job_timeout=1.0, interrupt_grace=0.5).handle, JOB)
    # asyncio.run returned: the request thread ended too (its read timeout follows the job's)
    assert time.monotonic() - started < 5
    assert "hung" in result["error"] and result["stopPod"] is True


def test_a1111_killed_mid_run_fails_the_next_job_fast(start_standin):
    standin = start_standin()
    worker = worker_for(standin)
    assert "output" in run_job(worker.handle, JOB)
    standin.kill()
    started = time.monotonic()
    result = run_job(worker.handle, JOB)
    assert time.monotonic() - started < 5
    assert "unreachable" in result["error"] and result["stopPod"] is True


def test_worker_waits_for_a_slow_starting_a1111(start_standin):
    standin = start_standin("--start-delay", "1.5", wait=False)
    started = time.monotonic()
    result = run_job(worker_for(standin).handle, JOB)
    assert "output" in result, result
    assert 1.0 < time.monotonic() - started < 8


def test_readiness_timeout_fails_every_job_and_asks_for_a_new_worker(start_standin):
    standin = start_standin("--start-delay", "30", wait=False)
    worker = worker_for(standin, ready_timeout=0.5)
    started = time.monotonic()
    first = run_job(worker.handle, JOB)
    second = run_job(worker.handle, {"api": "getLoras"})
    assert time.monotonic() - started < 3
    for result in (first, second):
        assert "WEBUI_READY_TIMEOUT" in result["error"] and result["stopPod"] is True


def test_bad_input_is_answered_without_waiting_for_a1111(start_standin):
    standin = start_standin("--start-delay", "30", wait=False)
    started = time.monotonic()
    result = run_job(worker_for(standin).handle, {"steps": 0})
    assert time.monotonic() - started < 1
    assert "steps" in result["error"] and "stopPod" not in result


@pytest.mark.parametrize("status", [500, 503])
def test_fail_status_flag_gives_errors_not_crashes(start_standin, status):
    standin = start_standin("--fail-status", str(status), wait=False)
    result = run_job(worker_for(standin, ready_timeout=1).handle, JOB)
    assert isinstance(result["error"], str) and result["error"]
