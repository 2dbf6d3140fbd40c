"""Benchmarks: what the worker costs on top of A1111, each figure against a baseline measured
in the same run. Run with `python -m bench` (`--quick` for a smoke run); see docs/benchmarks.md.

Modules, one job each:

- figures: a measured figure (value, baseline, target, verdict), medians, the printed table
- payloads: the fixed A1111 answers (one 512x512 PNG; four 1024x1024 PNGs, ~6 MB of base64)
  and the job inputs
- standin: starting the stand-in A1111 (tests/a1111_standin) and its control API
- jobs: running a job as RunPod does (runpod's run_job) and the plain-requests baseline
- overhead, readiness, memory, output_size: the four measurements
- child, subproc: the subprocess side of the readiness and memory measurements, and starting it
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SRC = REPO_ROOT / "src"


def use_worker_sources() -> None:
    """Make `sdworker` (src/) and `tests.a1111_standin` importable."""
    for path in (str(SRC), str(REPO_ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)
