"""A cold start through src/start.sh, timed as `python -m bench --only 6` times it: every phase
is seen, in order, and the first job is answered. The times themselves are the benchmark's."""

from __future__ import annotations

from bench import cold_start


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
