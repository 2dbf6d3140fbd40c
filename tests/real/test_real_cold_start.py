"""Start-up through src/start.sh on the real A1111: a cold start timed as `python -m bench --only 6`
times it goes through every phase in order (the times themselves are the benchmark's), and an
A1111 that is not ready in time ends start-up bounded, before any job is taken."""

from __future__ import annotations

import os
import time

from bench import cold_start
from tests.engine.launch import RealWorker


def test_a_cold_start_goes_through_its_phases_in_order(engine_session, tmp_path):
    engine_session.stop()  # one real A1111 at a time; the next test gets a fresh one
    run = cold_start.cold_start(
        engine_session.root,
        tmp_path,
        cold_start.AFTER,
        cold_start.REPO_ROOT / "src" / "start.sh",
        cold_start.SMALL,
    )
    assert set(run.at) == set(cold_start.PHASES)
    # The handler takes jobs only after the warm-up, which needed the model.
    ordered = ["model loaded", "warm-up done", "handler serving", "local API answers"]
    assert [run.at[p] for p in ordered] == sorted(run.at[p] for p in ordered), run.at
    assert run.at["first job answered"] > run.at["local API answers"]
    assert run.first_job > 0 and len(run.steady_jobs) == cold_start.STEADY_JOBS[64]


def test_an_a1111_that_is_not_ready_in_time_ends_start_up_bounded(engine_session, tmp_path):
    # The real A1111 needs well over 4 s to answer on 2 cores: start.sh gives up, closes the
    # start gate, stops A1111 and the waiting handler, and exits 1 saying why.
    engine_session.stop()
    worker = RealWorker(engine_session.root, tmp_path, WEBUI_READY_TIMEOUT="4")
    worker.launch()
    try:
        assert worker.proc.wait(timeout=60) == 1
        log = worker.log(tail=80)
        assert "A1111 was not ready after 4s (WEBUI_READY_TIMEOUT)" in log, log
        assert "worker not started: closed: A1111 was not ready" in log, log
        assert "Starting Serverless Worker" not in worker.log_path.read_text()
        # Nothing of the process group is left: not A1111, not the handler.
        deadline = time.monotonic() + 10
        while _group_alive(worker.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _group_alive(worker.proc.pid)
    finally:
        worker.stop()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
