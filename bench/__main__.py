"""python -m bench [--quick] [--iterations N] [--only KEY...] [--webui-url URL [--steps N]]
python -m bench --only 6 [--engine-dir DIR] [--iterations N]   (the real A1111's cold start)

Prints each figure against a baseline measured in the same run, a PASS/FAIL against its target
and a summary line. Exits 0 whatever the verdicts (it is a measurement); 1 when a figure could
not be measured at all.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from . import REPO_ROOT, use_worker_sources
from .figures import Figure, details, summary, table, unjudged

FIGURES = ("1", "2", "3", "4")
# Figure 6 starts the real A1111 (about 9 GB, minutes): only when asked for with --only 6.
REAL_FIGURES = ("6",)


@dataclass(frozen=True)
class Counts:
    small_pairs: int
    large_pairs: int
    warmup: int
    readiness_rounds: int
    memory_processes: int
    memory_rounds: int
    repeats: int
    real_small_pairs: int
    real_large_pairs: int
    cold_start_rounds: int


FULL = Counts(300, 30, 5, 30, 3, 3, 10, 20, 10, 3)
QUICK = Counts(30, 4, 1, 3, 1, 2, 3, 3, 2, 1)


def counts(args: argparse.Namespace) -> Counts:
    base = QUICK if args.quick else FULL
    n = args.iterations
    if n is None:
        return base
    return Counts(n, n, min(base.warmup, n), n, n, base.memory_rounds, n, n, n, n)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="What the worker costs on top of A1111, each figure against a baseline "
        "measured in the same run (see docs/benchmarks.md).",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run (~15 s): every figure measured once or a few times, none judged",
    )
    parser.add_argument(
        "--iterations",
        type=int,
        metavar="N",
        help="repetitions for every figure (pairs, rounds, processes), overriding the defaults",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=FIGURES + REAL_FIGURES,
        metavar="KEY",
        help=f"measure only these figures ({', '.join(FIGURES)}; 6: a cold start of the real "
        "A1111 through start.sh, never measured unless asked for)",
    )
    parser.add_argument(
        "--engine-dir",
        metavar="DIR",
        help="figure 6: an A1111 engine directory laid out as tests/engine builds it (default: "
        "that builder's, built if needed)",
    )
    parser.add_argument(
        "--webui-url",
        metavar="URL",
        help="measure the overhead figures against this A1111 instead (figure 5)",
    )
    parser.add_argument(
        "--steps", type=int, default=20, help="sampling steps of the jobs sent to --webui-url"
    )
    args = parser.parse_args(argv)
    if args.iterations is not None and args.iterations < 1:
        parser.error("--iterations must be at least 1")
    return args


def git_revision() -> str:
    try:
        rev = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rev = ""
    return rev or "unknown"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def header(argv: list[str], quick: bool = False) -> str:
    from importlib.metadata import version

    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            "command: python -m bench" + "".join(" " + shlex.quote(a) for a in argv),
            f"machine: {cpu_model()}, {os.cpu_count()} cores; Python {platform.python_version()}"
            f", runpod {version('runpod')}, requests {version('requests')}, Pillow "
            f"{version('Pillow')}; {platform.system()} {platform.release()}",
            f"worker: {git_revision()}; {when}",
            *(["mode: smoke run (--quick): figures measured, not judged"] if quick else []),
        ]
    )


def guarded(key: str, title: str, measure: Callable[[], list[Figure]]) -> list[Figure]:
    try:
        return measure()
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        return [Figure(key, title, verdict="ERROR", details=[f"error: {exc}"])]


def standin_figures(args: argparse.Namespace, n: Counts) -> list[Figure]:
    from . import memory, output_size, readiness
    from .standin import start

    wanted = set(args.only or FIGURES)
    figures: list[Figure] = []
    if wanted & {"1", "3"}:
        with start() as standin:
            standin.wait_ready()
            if "1" in wanted:
                figures += guarded("1", "overhead", lambda: _overhead(standin, n))
            if "3" in wanted:
                figures += guarded(
                    "3",
                    "memory",
                    lambda: [memory.run(standin, n.memory_processes, n.memory_rounds)],
                )
    if "2" in wanted:
        figures += guarded("2", "readiness", lambda: [readiness.run(n.readiness_rounds)])
    if "4" in wanted:
        figures += guarded("4", "output size", lambda: [output_size.run(n.repeats)])
    figures.sort(key=lambda f: f.key)
    return figures


def _overhead(standin, n: Counts) -> list[Figure]:
    from . import overhead
    from .jobs import JobRunner, make_worker, quiet_logging

    quiet_logging()
    runner = JobRunner(make_worker(standin.url))
    try:
        return overhead.run_against_standin(runner, standin, n.small_pairs, n.large_pairs, n.warmup)
    finally:
        runner.close()


def real_figures(args: argparse.Namespace, n: Counts) -> list[Figure]:
    from . import overhead
    from .jobs import JobRunner, make_worker, quiet_logging

    url = args.webui_url.rstrip("/")

    def measure() -> list[Figure]:
        quiet_logging()
        worker = make_worker(url, ready_timeout=30)
        worker.ensure_ready()
        runner = JobRunner(worker)
        try:
            return overhead.run_against(
                runner, url, n.real_small_pairs, n.real_large_pairs, 1, args.steps
            )
        finally:
            runner.close()

    return guarded("5", f"overhead vs {url}", measure)


def cold_start_figures(args: argparse.Namespace, n: Counts) -> list[Figure]:
    if "6" not in (args.only or ()):
        return []
    from pathlib import Path

    from . import cold_start

    engine = Path(args.engine_dir) if args.engine_dir else None
    return guarded("6", "cold start", lambda: cold_start.run(n.cold_start_rounds, engine))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    use_worker_sources()
    n = counts(args)
    started = time.monotonic()
    print(header(argv, args.quick), flush=True)
    if args.webui_url:
        figures = real_figures(args, n)
    else:
        figures = standin_figures(args, n) + cold_start_figures(args, n)
    if args.quick:
        # A few repetitions on a shared 2-core machine do not give stable medians: figures
        # such as 1b land on either side of their target from run to run.
        figures = [unjudged(f) for f in figures]
    print()
    print(table(figures))
    print()
    print(details(figures))
    print()
    print(f"{summary(figures)}; took {time.monotonic() - started:.0f} s", flush=True)
    return 1 if any(f.verdict == "ERROR" for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
