"""Figure 2: from the backend first answering to the worker taking its first job.

A worker process (python -m bench.child readiness) is given a job while its backend, a fresh
stand-in started with --start-delay, is not listening yet: the job waits in the worker's
readiness poll. Two clocks on the same machine (time.time()):

- the backend's first answer: this process polls it every millisecond (a refused connection
  costs microseconds) and takes the start of the first attempt that got an answer; the
  previous attempt, refused, bounds the error (shown as the poller's resolution);
- the job taken: the arrival, in the stand-in's own request log (/__standin__/stats), of the
  worker's first request that is not a readiness probe (GET /sdapi/v1/progress).
"""

from __future__ import annotations

import contextlib
import http.client
import random
import subprocess
import tempfile
import time

from . import REPO_ROOT
from .figures import Figure, median, quantile, verdict
from .standin import free_port, start
from .subproc import child_command, child_env, parse_results

TARGET_MS = 60.0
PROBE = ("GET", "/sdapi/v1/progress")


def first_answer(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> tuple[float, float]:
    """(start of the first answered request, start of the last refused one before it)."""
    deadline = time.monotonic() + timeout
    refused_at = float("nan")
    while time.monotonic() < deadline:
        started = time.time()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", "/__standin__/state")
            if conn.getresponse().status == 200:
                return started, refused_at
        except OSError:
            refused_at = started
        finally:
            conn.close()
        if proc.poll() is not None:
            raise RuntimeError(f"the stand-in exited with {proc.returncode}")
        time.sleep(0.001)
    raise RuntimeError(f"the stand-in did not answer within {timeout:g} s")


class WorkerProcess:
    def __init__(self) -> None:
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115  (closed in close())
        self.proc = subprocess.Popen(
            child_command("readiness"),
            cwd=REPO_ROOT,
            env=child_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        self.next_result()  # {"ready": true}: imports done

    def next_result(self) -> dict:
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                code = self.proc.wait()
                self.stderr.seek(0)
                err = self.stderr.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"the worker process exited with {code}:\n{err}")
            found = parse_results(line)
            if found:
                return found[0]

    def submit(self, url: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(url + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self.proc.stdin:
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self.stderr.close()


def one_round(worker: WorkerProcess, rng: random.Random) -> dict:
    port = free_port()
    # the stand-in needs ~0.3 s to start anyway; the random part spreads the moment it comes
    # up over the worker's poll interval
    delay = 0.2 + rng.uniform(0, 0.1)
    standin = start("--start-delay", f"{delay:.3f}", port=port)
    try:
        worker.submit(standin.url)
        answered, refused = first_answer(port, standin.proc)
        result = worker.next_result()
        if result.get("error"):
            raise RuntimeError(f"the readiness job failed: {result['error']}")
        requests_seen = standin.stats()["requests"]
    finally:
        standin.stop()
    probes = [r["t"] for r in requests_seen if (r["method"], r["path"]) == PROBE]
    taken = min(r["t"] for r in requests_seen if (r["method"], r["path"]) != PROBE)
    return {
        "latency": taken - answered,
        "probe_lag": min(probes) - answered if probes else float("nan"),
        "probe_to_job": taken - min(probes) if probes else float("nan"),
        "resolution": answered - refused,
        "waited": answered - result["submitted"],
    }


def run(rounds: int, seed: int = 6) -> Figure:
    rng = random.Random(seed)
    worker = WorkerProcess()
    try:
        found = [one_round(worker, rng) for _ in range(rounds)]
    finally:
        worker.close()

    def col(name: str) -> list[float]:
        return [r[name] * 1000 for r in found]

    latency = col("latency")
    value = median(latency)
    return Figure(
        "2",
        "readiness: backend up -> first job taken",
        measured=f"{value:.1f} ms",
        baseline="0 ms (1 ms poller)",
        result=f"+{value:.1f} ms",
        target=f"<= {TARGET_MS:g} ms",
        verdict=verdict(value <= TARGET_MS),
        details=[
            f"p10 {quantile(latency, 0.1):.1f} / p90 {quantile(latency, 0.9):.1f} / max "
            f"{max(latency):.1f} ms (n={len(latency)}; the job waited {median(col('waited')):.0f}"
            " ms for the backend)",
            f"of which: backend up -> worker's first answered probe {median(col('probe_lag')):.1f}"
            f" ms (it polls every 50 ms), probe -> job's first request "
            f"{median(col('probe_to_job')):.1f} ms; poller resolution "
            f"{median(col('resolution')):.1f} ms",
        ],
    )
