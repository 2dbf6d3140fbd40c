"""Figure 6: a cold start through src/start.sh with the real A1111 (tests/engine), before and
after this tree's start-up changes, in one run on the same engine.

- before: BASELINE's src/ (start.sh, and the handler it starts after the warm-up) with A1111's
  bytecode not compiled, as the image started before it compiled A1111 at build time;
- after: this tree's src/ (the handler prepared while A1111 loads) with the bytecode compiled.

Each change is also measured alone, against "after" (figure 6c): the old start.sh on compiled
bytecode, the bytecode removed, and ADetailer's Hub lookup (--ad-no-huggingface) left in.

Each cold start launches start.sh as the container does (tests.engine.launch.RealWorker: the
engine's venv, the SDK's local API server) and times, from the launch, one clock:

- API answers: this process's first answered GET /sdapi/v1/progress (polled every 20 ms);
- model loaded, warm-up done, handler serving: the arrival of A1111's `Model loaded in`, start.sh's
  `is ready and warmed up` and the SDK's `Starting Serverless Worker` (printed by
  runpod.serverless.start) in start.sh's output, which a thread reads every 5 ms;
- local API answers: the SDK's local server answering (polled every 20 ms);
- first job answered: a /runsync job sent the moment the local API answers.

Then steady jobs of the same size follow, so the first job / steady job ratio says whether the
warm-up left anything for the first job to do; at the warm-up's size and at 512x512, each from its
own cold start. Every job has a prompt of its own: A1111 keeps the last prompt's conditioning, and
a repeated prompt would make the steady jobs look faster than a user's.
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
STEADY_JOBS = {64: 3, 512: 1}
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


@dataclass(frozen=True)
class Variant:
    """How one cold start is made: which src/, and whether A1111's bytecode is compiled."""

    name: str
    baseline_src: bool = False
    compiled: bool = True
    # One line of start.sh replaced (in a copy of src/).
    patch: tuple[str, str] | None = None


BEFORE = Variant(f"before ({BASELINE}, bytecode not compiled)", baseline_src=True, compiled=False)
AFTER = Variant("after (this tree, bytecode compiled)")
ALONE = (
    Variant(f"{BASELINE}'s start.sh only (bytecode compiled)", baseline_src=True),
    Variant("bytecode not compiled only (this start.sh)", compiled=False),
    Variant(
        "without --ad-no-huggingface (HF_HUB_OFFLINE=1 still set)",
        patch=("WEBUI_LAUNCH+=(--ad-no-huggingface)", ":"),
    ),
)


@dataclass
class ColdStart:
    """One cold start: each phase's time since the launch, and the jobs' durations."""

    variant: Variant
    size: int
    at: dict[str, float] = field(default_factory=dict)
    first_job: float = float("nan")
    steady_jobs: list[float] = field(default_factory=list)

    @property
    def first_ratio(self) -> float:
        return self.first_job / statistics.median(self.steady_jobs)


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

    def mark(self, phase: str) -> None:
        self.at.setdefault(phase, time.monotonic() - self.worker.launched_at)

    def _read_log(self) -> None:
        # Only what start.sh wrote since the last look (its output grows to megabytes), plus
        # the unfinished last line, in which a marker may be cut in two.
        offset, tail = 0, ""
        while not self._stop.is_set():
            with contextlib.suppress(OSError), self.worker.log_path.open("rb") as log:
                log.seek(offset)
                chunk = log.read()
                offset += len(chunk)
                text = tail + chunk.decode(errors="replace")
                for phase, pattern in MARKERS.items():
                    if phase not in self.at and pattern.search(text):
                        self.mark(phase)
                tail = text[text.rfind("\n") + 1 :]
            time.sleep(0.005)

    def _poll(self, phase: str, answered) -> None:
        while not self._stop.is_set() and phase not in self.at:
            if answered():
                self.mark(phase)
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


_prompts = iter(range(1_000_000))


def job_input(size: dict) -> dict:
    n = next(_prompts)
    return {
        "prompt": f"a lighthouse at dusk, study {n}",
        "seed": n,
        "sampler_name": "Euler",
        **size,
    }


def timed_job(worker, size: dict) -> float:
    started = time.monotonic()
    result = worker.runsync(job_input(size))
    if result.get("status") != "COMPLETED":
        raise RuntimeError(f"the job failed: {str(result)[:500]}")
    return time.monotonic() - started


def cold_start(engine: Path, run_dir: Path, variant: Variant, start_sh: Path, size: dict):
    from tests.engine.launch import RealWorker

    if variant.compiled:
        compile_bytecode(engine)
    else:
        remove_bytecode(engine)
    worker = RealWorker(engine, run_dir, start_sh=start_sh)
    run = ColdStart(variant, size["width"])
    try:
        with Watcher(worker) as watcher:
            worker.launch()
            watcher.wait_for("local API answers", START_TIMEOUT)
            run.first_job = timed_job(worker, size)
            watcher.mark("first job answered")
            watcher.wait_for("handler serving", 10)
            run.at = dict(watcher.at)
        run.steady_jobs = [timed_job(worker, size) for _ in range(STEADY_JOBS[size["width"]])]
    finally:
        worker.stop()
    return run


@contextlib.contextmanager
def sources(variant: Variant) -> Iterator[Path]:
    """A copy of the variant's src/ (BASELINE's from git, or this tree's), patched; its start.sh."""
    with tempfile.TemporaryDirectory(prefix="bench-src-") as tmp:
        src = Path(tmp) / "src"
        if variant.baseline_src:
            archive = subprocess.run(
                ["git", "archive", BASELINE, "src"], cwd=REPO_ROOT, capture_output=True, check=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        else:
            shutil.copytree(REPO_ROOT / "src", src)
        if variant.patch:
            script = (src / "start.sh").read_text()
            old, new = variant.patch
            if old not in script:
                raise RuntimeError(f"start.sh no longer has {old!r}: update the variant")
            (src / "start.sh").write_text(script.replace(old, new))
        yield src / "start.sh"


def remove_bytecode(engine: Path) -> None:
    for cache in (engine / "webui").rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)


def compile_bytecode(engine: Path) -> None:
    from tests.engine.build import compile_webui

    compile_webui(engine / "venv" / "bin" / "python", engine / "webui")


# --------------------------------------------------------------------------- the figure


def run(rounds: int, engine: Path | None = None) -> list[Figure]:
    from tests.engine.build import engine_lock, ensure_built

    engine = engine or ensure_built()
    starts: list[ColdStart] = []
    with engine_lock(), tempfile.TemporaryDirectory() as tmp:
        plan = [(v, size) for size in (SMALL, LARGE) for v in (BEFORE, AFTER)]
        plan += [(v, SMALL) for v in ALONE]
        for r in range(rounds):
            # The order turns each round, so that no variant always follows the same one.
            for i, (variant, size) in enumerate(plan[r % len(plan) :] + plan[: r % len(plan)]):
                with sources(variant) as script:
                    where = Path(tmp) / f"{r}-{i}"
                    starts.append(cold_start(engine, where, variant, script, size))
        compile_bytecode(engine)
    return figures(starts)


def med(values: list[float]) -> float:
    return statistics.median(values)


def of(starts: list[ColdStart], variant: Variant, size: int | None = None) -> list[ColdStart]:
    return [s for s in starts if s.variant == variant and (size is None or s.size == size)]


def at(starts: list[ColdStart], phase: str) -> float:
    return med([s.at[phase] for s in starts])


def phase_line(name: str, starts: list[ColdStart]) -> str:
    total = at(starts, "first job answered")
    cells = [f"{p} {at(starts, p):.2f} s ({at(starts, p) / total:.0%})" for p in PHASES]
    return f"{name}: launch -> " + ", ".join(cells)


def figures(starts: list[ColdStart]) -> list[Figure]:
    before, after = of(starts, BEFORE, 64), of(starts, AFTER, 64)
    gap = med([s.at["handler serving"] - s.at["warm-up done"] for s in after])
    gap_before = med([s.at["handler serving"] - s.at["warm-up done"] for s in before])
    serving, serving_before = at(after, "handler serving"), at(before, "handler serving")
    shorter = serving / serving_before
    rows = [
        Figure(
            "6a",
            "cold start: warm-up done -> handler serving",
            f"{gap:+.3f} s",
            f"{gap_before:+.3f} s",
            f"{gap:+.3f} s",
            f"<= {SERVING_TARGET_S} s",
            verdict(gap <= SERVING_TARGET_S),
            details=[phase_line(BEFORE.name, before), phase_line(AFTER.name, after)],
        ),
        Figure(
            "6b",
            "cold start: launch -> handler serving",
            f"{serving:.2f} s",
            f"{serving_before:.2f} s",
            f"x{shorter:.3f}",
            f"<= x{SHORTER_TARGET}",
            verdict(shorter <= SHORTER_TARGET),
            details=[
                f"{s.variant.name} {s.size}x{s.size}: serving {s.at['handler serving']:.2f} s, "
                f"first job {s.first_job:.2f} s, steady "
                + ", ".join(f"{t:.2f}" for t in s.steady_jobs)
                + " s"
                for s in starts
            ],
        ),
        alone_figure(starts, serving),
    ]
    for key, size in (("6d", 64), ("6e", 512)):
        ratio = med([s.first_ratio for s in of(starts, AFTER, size)])
        base = med([s.first_ratio for s in of(starts, BEFORE, size)])
        rows.append(
            Figure(
                key,
                f"first job / steady job, {size}x{size}",
                f"x{ratio:.3f}",
                f"x{base:.3f}",
                f"x{ratio:.3f}",
                f"<= x{FIRST_TARGET}",
                verdict(ratio <= FIRST_TARGET),
            )
        )
    return rows


def alone_figure(starts: list[ColdStart], serving_after: float) -> Figure:
    """Each change undone alone: what it costs the start of "after" (6b's measured value)."""
    lines, costs = [], []
    for variant in ALONE:
        mine = of(starts, variant)
        cost = at(mine, "handler serving") / serving_after
        costs.append(cost)
        lines.append(
            f"{variant.name}: API answers {at(mine, 'API answers'):.2f} s, warm-up done "
            f"{at(mine, 'warm-up done'):.2f} s, serving {at(mine, 'handler serving'):.2f} s: "
            f"x{cost:.3f} of after's (n={len(mine)})"
        )
    return Figure(
        "6c",
        "each saving undone alone: launch -> serving",
        f"{serving_after:.2f} s",
        "-",
        f"x{min(costs):.3f} (least)",
        "each > x1",
        verdict(min(costs) > 1.0),
        details=lines,
    )
