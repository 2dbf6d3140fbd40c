"""Figure 3: the handler's peak RSS growth while it returns the large result (four 1024x1024
PNGs), divided by the result's size; the baseline is the same for requests.post + resp.json().

Each process (a fresh interpreter) warms up on everything but the large answer, notes its idle
RSS, then returns the large answer a few times in a row. Before each, VmHWM is reset to the
current RSS through /proc/self/clear_refs, and read after it (/proc/self/status). A process's
figure is its highest peak over the idle RSS: memory the allocator keeps from one answer to the
next counts, as it does for a real worker. The figure is the median over processes.
"""

from __future__ import annotations

from . import payloads
from .figures import Figure, median, verdict
from .jobs import baseline
from .payloads import TXT2IMG
from .subproc import run_child

TARGET = 4.0


def growths(rounds: list[dict]) -> list[float]:
    """Each answer's peak over the idle RSS (before the first), as a multiple of its size."""
    idle = rounds[0]["rss_before_kb"]
    return [(r["peak_kb"] - idle) * 1024 / r["result_bytes"] for r in rounds]


def run(standin, processes: int, rounds: int) -> Figure:
    shape = payloads.LARGE
    job_input = payloads.job_input(shape["size"], shape["batch_size"])
    standin.config(fixed_response={})
    answer = payloads.fixed_answer(shape, baseline(standin.url, dict(job_input, send_images=False)))
    standin.config(fixed_response={TXT2IMG: answer})
    runs: dict[str, list[list[float]]] = {"worker": [], "baseline": []}
    sample: dict = {}
    for _ in range(processes):  # interleaved: worker, baseline, worker, ...
        for path, found in runs.items():
            results = run_child("memory", standin.url, path, str(rounds))
            found.append(growths(results))
            sample = sample or results[0]
    standin.config(fixed_response={})
    worst = {path: [max(g) for g in found] for path, found in runs.items()}
    value, base = median(worst["worker"]), median(worst["baseline"])
    size = sample["result_bytes"]

    def by_answer(path: str) -> str:
        columns = zip(*runs[path], strict=True)
        return ", ".join(f"#{i + 1} x{median(c):.2f}" for i, c in enumerate(columns))

    details = [
        f"result {size / 1e6:.2f} MB (its JSON); peak growth: worker {value * size / 1e6:.1f} MB,"
        f" baseline {base * size / 1e6:.1f} MB (highest of {rounds} answers in a row, median of "
        f"{processes} fresh processes)",
        f"by answer: worker {by_answer('worker')}; baseline {by_answer('baseline')}",
    ]
    if not sample["peak_reset"]:
        details.append(
            "VmHWM could not be reset here (/proc/self/clear_refs): an answer's peak may be an "
            "earlier one, so the figure may be over-stated"
        )
    return Figure(
        "3",
        "memory: peak RSS growth / result size",
        measured=f"x{value:.2f}",
        baseline=f"x{base:.2f}",
        result=f"x{value:.2f}",
        target=f"<= x{TARGET:g}",
        verdict=verdict(value <= TARGET),
        details=details,
    )
