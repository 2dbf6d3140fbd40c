"""Figure 6: a cold start through src/start.sh with the real A1111 (tests/engine), against the
start.sh of BASELINE (the worker before its handler was prepared alongside A1111), in one run.

Each cold start launches start.sh as the container does (tests.engine.launch.RealWorker: the
engine's venv, the SDK's local API server) and times, from the launch, one clock:

- API answers: this process's first answered GET /sdapi/v1/progress (polled every 20 ms);
- model loaded, warm-up done, handler serving: the arrival of A1111's `Model loaded in`, start.sh's
  `is ready and warmed up` and the SDK's `Starting Serverless Worker` (printed by
  runpod.serverless.start) in start.sh's output, which a thread reads every 5 ms;
- local API answers: the SDK's local server answering (polled every 20 ms);
- first job answered: a /runsync job sent the moment the local API answers.

The same job is then sent again (steady), so the first job / steady job ratio says whether the
warm-up left anything for the first job to do; at the warm-up's size and at 512x512, each from its
own cold start. Figure 6c measures A1111's own start-up with and without each candidate option.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests

from . import REPO_ROOT
from .figures import Figure, verdict

BASELINE = "0554ae3"
SMALL = {"width": 64, "height": 64, "steps": 1}
LARGE = {"width": 512, "height": 512, "steps": 2}
MARKERS = {
    "model loaded": re.compile(r"Model loaded in "),
    "warm-up done": re.compile(r"is ready and warmed up"),
    "handler serving": re.compile(r"Starting Serverless Worker"),
}
PHASES = (
    "API answers",
    "model loaded",
    "warm-up done",
    "handler serving",
    "local API answers",
    "first job answered",
)
SERVING_TARGET_S = 0.1
SHORTER_TARGET = 0.85
FIRST_TARGET = 1.15
START_TIMEOUT = 300.0


@dataclass
class ColdStart:
    """One cold start: each phase's time since the launch, and the two jobs' durations."""

    label: str
    size: str
    at: dict[str, float] = field(default_factory=dict)
    first_job: float = float("nan")
    steady_job: float = float("nan")

    @property
    def first_ratio(self) -> float:
        return self.first_job / self.steady_job


class Watcher:
    """Times the phases of one start from three sources: the log, A1111, the local API."""

    def __init__(self, worker) -> None:
        self.worker = worker
        self.at: dict[str, float] = {}
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._read_log, daemon=True),
            threading.Thread(target=self._poll, args=("API answers", self._webui_up), daemon=True),
            threading.Thread(
                target=self._poll, args=("local API answers", self._api_up), daemon=True
            ),
        ]

    def __enter__(self) -> Watcher:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _mark(self, phase: str) -> None:
        self.at.setdefault(phase, time.monotonic() - self.worker.launched_at)

    def _read_log(self) -> None:
        seen = ""
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                seen = self.worker.log_path.read_text(errors="replace")
            for phase, pattern in MARKERS.items():
                if phase not in self.at and pattern.search(seen):
                    self._mark(phase)
            time.sleep(0.005)

    def _poll(self, phase: str, answered) -> None:
        while not self._stop.is_set() and phase not in self.at:
            if answered():
                self._mark(phase)
                return
            time.sleep(0.02)

    def _webui_up(self) -> bool:
        return _answers(self.worker.webui_url + "/sdapi/v1/progress")

    def _api_up(self) -> bool:
        return _answers(self.worker.api_url + "/docs")

    def wait_for(self, phase: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while phase not in self.at:
            if self.worker.proc.poll() is not None:
                raise RuntimeError(f"start.sh exited:\n{self.worker.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no '{phase}' within {timeout:g} s:\n{self.worker.log()}")
            time.sleep(0.005)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def job_input(size: dict) -> dict:
    return {"prompt": "a lighthouse at dusk", "seed": 1, "sampler_name": "Euler", **size}


def timed_job(worker, size: dict) -> float:
    started = time.monotonic()
    result = worker.runsync(job_input(size))
    if result.get("status") != "COMPLETED":
        raise RuntimeError(f"the job failed: {str(result)[:500]}")
    return time.monotonic() - started


def cold_start(engine: Path, run_dir: Path, label: str, start_sh: Path, size: dict, **env):
    from tests.engine.launch import RealWorker

    worker = RealWorker(engine, run_dir, start_sh=start_sh, **env)
    run = ColdStart(label, f"{size['width']}x{size['height']}")
    try:
        with Watcher(worker) as watcher:
            worker.launch()
            watcher.wait_for("local API answers", START_TIMEOUT)
            run.first_job = timed_job(worker, size)
            watcher._mark("first job answered")
            watcher.wait_for("handler serving", 10)
            run.at = dict(watcher.at)
        run.steady_job = timed_job(worker, size)
    finally:
        worker.stop()
    return run


@contextlib.contextmanager
def baseline_start_sh() -> Iterator[Path]:
    """BASELINE's src/ (start.sh and the handler it runs), unpacked from git."""
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as tmp:
        archive = subprocess.run(
            ["git", "archive", BASELINE, "src"], cwd=REPO_ROOT, capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        yield Path(tmp) / "src" / "start.sh"


# --------------------------------------------------------------------------- A1111's options


@dataclass(frozen=True)
class Candidate:
    """A change to A1111's start-up, measured against the start as start.sh does it."""

    name: str
    # start.sh with one line changed (in a copy of src/), or the compiled bytecode removed.
    patch: tuple[str, str] | None = None
    remove_bytecode: bool = False


AS_IS = Candidate("as start.sh starts it")
CANDIDATES = (
    AS_IS,
    Candidate("A1111's bytecode not compiled (as the image was)", remove_bytecode=True),
    Candidate(
        "without --ad-no-huggingface (HF_HUB_OFFLINE=1 still set)",
        patch=("WEBUI_LAUNCH+=(--ad-no-huggingface)", ":"),
    ),
)


@contextlib.contextmanager
def candidate_start_sh(candidate: Candidate) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="bench-candidate-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(REPO_ROOT / "src", src)
        if candidate.patch:
            script = (src / "start.sh").read_text()
            old, new = candidate.patch
            if old not in script:
                raise RuntimeError(f"start.sh no longer has {old!r}: update the candidate")
            (src / "start.sh").write_text(script.replace(old, new))
        yield src / "start.sh"


def remove_bytecode(engine: Path) -> None:
    for cache in (engine / "webui").rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)


def compile_bytecode(engine: Path) -> None:
    """What A1111's first start writes anyway (its tree is writable here); the image compiles it."""
    python = engine / "venv" / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "compileall", "-q", "-j", "0", str(engine / "webui")],
        check=False,
        capture_output=True,
    )


# --------------------------------------------------------------------------- the figure


def run(rounds: int, engine: Path | None = None) -> list[Figure]:
    from tests.engine.build import engine_lock, ensure_built

    engine = engine or ensure_built()
    with engine_lock(), baseline_start_sh() as old, tempfile.TemporaryDirectory() as tmp:
        new = REPO_ROOT / "src" / "start.sh"
        compile_bytecode(engine)
        starts: list[ColdStart] = []
        options: dict[str, list[ColdStart]] = {c.name: [] for c in CANDIDATES}
        for r in range(rounds):
            # Alternating the order, so that neither side always runs on a warmer page cache.
            pairs = [("baseline", old), ("worker", new)]
            for size in (SMALL, LARGE):
                for label, script in pairs if r % 2 == 0 else pairs[::-1]:
                    where = Path(tmp) / f"{label}-{r}-{size['width']}"
                    starts.append(cold_start(engine, where, label, script, size))
            for candidate in CANDIDATES:
                if candidate.remove_bytecode:
                    remove_bytecode(engine)
                where = Path(tmp) / f"option-{r}-{CANDIDATES.index(candidate)}"
                with candidate_start_sh(candidate) as script:
                    start = cold_start(engine, where, candidate.name, script, SMALL)
                options[candidate.name].append(start)
                compile_bytecode(engine)
    return [*figures(starts), options_figure(options)]


def med(values: list[float]) -> float:
    return statistics.median(values)


def phase_table(starts: list[ColdStart]) -> list[str]:
    lines = []
    for label in ("baseline", "worker"):
        mine = [s for s in starts if s.label == label]
        total = med([s.at["first job answered"] for s in mine])
        cells = []
        for phase in PHASES:
            t = med([s.at[phase] for s in mine])
            cells.append(f"{phase} {t:.2f} s ({t / total:.0%})")
        lines.append(
            f"{label} ({BASELINE if label == 'baseline' else 'this tree'}): launch -> "
            + ", ".join(cells)
        )
    return lines


def figures(starts: list[ColdStart]) -> list[Figure]:
    def of(label: str, size: str | None = None) -> list[ColdStart]:
        return [s for s in starts if s.label == label and (size is None or s.size == size)]

    new, old = of("worker"), of("baseline")
    gap_new = med([s.at["handler serving"] - s.at["warm-up done"] for s in new])
    gap_old = med([s.at["handler serving"] - s.at["warm-up done"] for s in old])
    serving_new = med([s.at["handler serving"] for s in new])
    serving_old = med([s.at["handler serving"] for s in old])
    shorter = serving_new / serving_old
    rows = [
        Figure(
            "6a",
            "cold start: warm-up done -> handler serving",
            f"{gap_new:+.3f} s",
            f"{gap_old:+.3f} s",
            f"{gap_new:+.3f} s",
            f"<= {SERVING_TARGET_S} s",
            verdict(gap_new <= SERVING_TARGET_S),
            details=phase_table(starts),
        ),
        Figure(
            "6b",
            "cold start: launch -> handler serving",
            f"{serving_new:.2f} s",
            f"{serving_old:.2f} s",
            f"x{shorter:.3f}",
            f"<= x{SHORTER_TARGET}",
            verdict(shorter <= SHORTER_TARGET),
            details=[
                f"{s.label} {s.size}: serving {s.at['handler serving']:.2f} s, first job "
                f"{s.first_job:.2f} s, steady {s.steady_job:.2f} s"
                for s in starts
            ],
        ),
    ]
    for key, size in (("6d", "64x64"), ("6e", "512x512")):
        ratio = med([s.first_ratio for s in of("worker", size)])
        base = med([s.first_ratio for s in of("baseline", size)])
        rows.append(
            Figure(
                key,
                f"first job / steady job, {size}",
                f"x{ratio:.3f}",
                f"x{base:.3f}",
                f"x{ratio:.3f}",
                f"<= x{FIRST_TARGET}",
                verdict(ratio <= FIRST_TARGET),
            )
        )
    return rows


def options_figure(options: dict[str, list[ColdStart]]) -> Figure:
    def warm(name: str) -> float:
        return med([s.at["warm-up done"] for s in options[name]])

    def api(name: str) -> float:
        return med([s.at["API answers"] for s in options[name]])

    lines = [
        f"{name}: launch -> API answers {api(name):.2f} s, -> warm-up done {warm(name):.2f} s "
        f"(n={len(runs)})"
        for name, runs in options.items()
    ]
    costs = {name: warm(name) / warm(AS_IS.name) for name in options if name != AS_IS.name}
    least = min(costs.values())
    return Figure(
        "6c",
        "A1111 start-up without each saving / with all",
        f"{warm(AS_IS.name):.2f} s",
        "-",
        f"x{least:.3f} (least)",
        "each > x1",
        verdict(least > 1.0),
        details=lines,
    )
