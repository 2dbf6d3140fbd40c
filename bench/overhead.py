"""Figure 1 (and 5): a job through the handler, as RunPod runs it, against the same request
sent straight to the same backend with requests.post + resp.json()."""

from __future__ import annotations

import time
from collections.abc import Callable

import requests

from . import payloads
from .figures import Figure, median, ms, quantile, spread, verdict
from .jobs import JobRunner, baseline, job_problem
from .payloads import TXT2IMG

SMALL_TARGET_MS = 3.0
LARGE_TARGET_RATIO = 1.05


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def measure(
    runner: JobRunner, url: str, job_input: dict, pairs: int, warmup: int, check
) -> tuple[dict[str, list[float]], int]:
    """Interleaved runs of the worker, the baseline and (for reference) the baseline with a
    keep-alive session; the order rotates every round so drift and order effects cancel.
    Returns the times (seconds) by path and the size of the images returned (base64 chars)."""
    session = requests.Session()

    def worker() -> None:
        result = runner.run(job_input)
        if result.get("output") is None or "error" in result:
            raise RuntimeError(job_problem(result) or f"no output: {str(result)[:300]}")

    def plain() -> None:
        baseline(url, job_input)

    def pooled() -> None:
        resp = session.post(url + TXT2IMG, json=job_input, timeout=600)
        resp.raise_for_status()
        resp.json()

    first = runner.run(job_input)  # also warms the catalog (samplers) and the connection
    problem = job_problem(first) or check(first.get("output"))
    if problem:
        raise RuntimeError(f"the worker's answer is wrong: {problem}")
    paths = {"worker": worker, "baseline": plain, "session": pooled}
    for _ in range(warmup):
        for fn in paths.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in paths}
    names = list(paths)
    for i in range(pairs):
        order = names[i % 3 :] + names[: i % 3]
        for name in order:
            times[name].append(_timed(paths[name]))
    session.close()
    return times, sum(len(s) for s in first["output"].get("images") or [])


def _paired(a: list[float], b: list[float], op) -> list[float]:
    return [op(x, y) for x, y in zip(a, b, strict=True)]


def small_figure(key: str, title: str, times: dict[str, list[float]]) -> Figure:
    diffs = _paired(times["worker"], times["baseline"], lambda w, b: w - b)
    added = median(diffs)
    vs_session = median(_paired(times["worker"], times["session"], lambda w, b: w - b))
    return Figure(
        key,
        title,
        measured=ms(median(times["worker"])),
        baseline=ms(median(times["baseline"])),
        result=f"{added * 1000:+.2f} ms",
        target=f"<= +{SMALL_TARGET_MS:g} ms",
        verdict=verdict(added * 1000 <= SMALL_TARGET_MS),
        details=[
            f"worker {spread(times['worker'])}; baseline {spread(times['baseline'])}",
            f"added = median of paired differences (p10 {quantile(diffs, 0.1) * 1000:+.2f}, "
            f"p90 {quantile(diffs, 0.9) * 1000:+.2f} ms)",
            f"for reference, vs a keep-alive requests.Session "
            f"({ms(median(times['session']))}): {vs_session * 1000:+.2f} ms",
        ],
    )


def large_figure(key: str, title: str, times: dict[str, list[float]], size: int) -> Figure:
    ratios = _paired(times["worker"], times["baseline"], lambda w, b: w / b)
    ratio = median(ratios)
    vs_session = median(_paired(times["worker"], times["session"], lambda w, b: w / b))
    added = median(_paired(times["worker"], times["baseline"], lambda w, b: w - b))
    return Figure(
        key,
        title,
        measured=ms(median(times["worker"])),
        baseline=ms(median(times["baseline"])),
        result=f"x{ratio:.3f}",
        target=f"<= x{LARGE_TARGET_RATIO:g}",
        verdict=verdict(ratio <= LARGE_TARGET_RATIO),
        details=[
            f"result {size / 1e6:.2f} MB of base64; worker {spread(times['worker'])}; "
            f"baseline {spread(times['baseline'])}",
            f"ratio = median of paired ratios (p10 x{quantile(ratios, 0.1):.3f}, "
            f"p90 x{quantile(ratios, 0.9):.3f}); added {added * 1000:+.2f} ms",
            f"for reference, vs a keep-alive requests.Session "
            f"({ms(median(times['session']))}): x{vs_session:.3f}",
        ],
    )


def run_against_standin(
    runner: JobRunner, standin, small_pairs: int, large_pairs: int, warmup: int
) -> list[Figure]:
    figures = []
    for key, shape, pairs in (
        ("1a", payloads.SMALL, small_pairs),
        ("1b", payloads.LARGE, large_pairs),
    ):
        job_input = payloads.job_input(shape["size"], shape["batch_size"])
        standin.config(fixed_response={})
        plain = dict(job_input, send_images=False)
        answer = payloads.fixed_answer(shape, baseline(standin.url, plain))
        standin.config(fixed_response={TXT2IMG: answer})
        times, _ = measure(
            runner,
            standin.url,
            job_input,
            pairs,
            warmup,
            lambda out, shape=shape: payloads.check_output(out, shape),
        )
        title = f"overhead, {payloads.describe(shape)}"
        if key == "1a":
            figures.append(small_figure(key, title, times))
        else:
            figures.append(large_figure(key, title, times, payloads.answer_size(answer)))
    standin.config(fixed_response={})
    return figures


def run_against(
    runner: JobRunner, url: str, small_pairs: int, large_pairs: int, warmup: int, steps: int
) -> list[Figure]:
    """Figure 5: the same against a real A1111 (its generation time is in both paths)."""
    figures = []
    for key, shape, pairs in (
        ("5a", payloads.SMALL, small_pairs),
        ("5b", payloads.LARGE, large_pairs),
    ):
        job_input = payloads.job_input(shape["size"], shape["batch_size"], steps)
        times, size = measure(
            runner,
            url,
            job_input,
            pairs,
            warmup,
            lambda out, shape=shape: payloads.check_count(out, shape),
        )
        title = f"overhead vs {url}, {payloads.describe(shape)}, {steps} steps"
        if key == "5a":
            figures.append(small_figure(key, title, times))
        else:
            figures.append(large_figure(key, title, times, size))
    return figures
