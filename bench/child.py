"""The subprocess side of the readiness and memory measurements (a fresh interpreter each).

    python -m bench.child memory URL worker|baseline ROUNDS
    python -m bench.child readiness        (then one backend URL per line on stdin)

Results are printed as lines starting with RESULT_PREFIX followed by JSON.
"""

from __future__ import annotations

import gc
import json
import sys
import time

from . import payloads, use_worker_sources
from .jobs import JobRunner, baseline, make_worker, quiet_logging

RESULT_PREFIX = "BENCH-RESULT "


def emit(obj: dict) -> None:
    sys.stdout.write(RESULT_PREFIX + json.dumps(obj) + "\n")
    sys.stdout.flush()


# --- memory ----------------------------------------------------------------------------------


def status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where that is not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return status_kb("VmHWM") <= status_kb("VmRSS") + 64


def memory(url: str, path: str, rounds: int) -> None:
    shape = payloads.LARGE
    job_input = payloads.job_input(shape["size"], shape["batch_size"])
    if path == "worker":
        quiet_logging()
        runner = JobRunner(make_worker(url))
        # warm up everything but the large answer: the SDK, the thread pool, the connection,
        # the catalog (an unknown sampler fetches it and fails before any generation)
        runner.run({"api": "getSamplers"})
        runner.run(dict(job_input, sampler_name="no such sampler"))

        def run() -> object:
            result = runner.run(job_input)
            if "output" not in result or "error" in result:
                raise RuntimeError(f"the job failed: {str(result)[:300]}")
            return result["output"]

    else:
        import requests

        requests.get(url + "/sdapi/v1/samplers", timeout=30).json()

        def run() -> object:
            return baseline(url, job_input)

    for i in range(rounds):
        gc.collect()
        resettable = reset_peak()
        before = status_kb("VmRSS")
        peak_before = status_kb("VmHWM")
        output = run()
        peak = status_kb("VmHWM")
        size = len(json.dumps(output))
        emit(
            {
                "round": i,
                "rss_before_kb": before,
                "peak_before_kb": peak_before,
                "peak_kb": peak,
                "peak_reset": resettable,
                "result_bytes": size,
            }
        )
        del output


# --- readiness -------------------------------------------------------------------------------


def readiness() -> None:
    quiet_logging()
    use_worker_sources()
    import sdworker.worker  # noqa: F401  (imported before the clock matters)

    job_input = {"prompt": "readiness", "width": 64, "height": 64, "steps": 1}
    emit({"ready": True})
    for line in sys.stdin:
        url = line.strip()
        if not url:
            break
        runner = JobRunner(make_worker(url, ready_timeout=30))
        submitted = time.time()
        result = runner.run(job_input)
        emit(
            {
                "submitted": submitted,
                "done": time.time(),
                "error": None if "output" in result else str(result)[:300],
            }
        )
        runner.close()


def main(argv: list[str]) -> int:
    if argv[:1] == ["memory"] and len(argv) == 4:
        memory(argv[1], argv[2], int(argv[3]))
        return 0
    if argv == ["readiness"]:
        readiness()
        return 0
    sys.stderr.write(__doc__ or "")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
