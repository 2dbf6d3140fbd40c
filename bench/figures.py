"""A measured figure, the statistics behind it and the printed table."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

PASS, FAIL, SKIP, INFO, SMOKE = "PASS", "FAIL", "SKIP", "INFO", "SMOKE"


@dataclass
class Figure:
    """One printed row: what was measured, against what, the target and the verdict."""

    key: str  # "1a", "2", ...
    title: str
    measured: str = "-"
    baseline: str = "-"
    result: str = "-"  # the ratio or the difference that the target is about
    target: str = "-"
    verdict: str = INFO
    details: list[str] = field(default_factory=list)

    @classmethod
    def skipped(cls, key: str, title: str, reason: str, target: str = "-") -> Figure:
        return cls(key, title, target=target, verdict=SKIP, details=[f"skipped: {reason}"])


def verdict(ok: bool) -> str:
    return PASS if ok else FAIL


def unjudged(figure: Figure) -> Figure:
    """A figure of a smoke run: measured, shown, but too few repetitions to judge."""
    if figure.verdict not in (PASS, FAIL):
        return figure
    note = f"smoke run: {figure.result} against {figure.target} is not judged"
    return replace(figure, verdict=SMOKE, details=[*figure.details, note])


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile (q in 0..1) of a non-empty sample."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def spread(values: Sequence[float], scale: float = 1000.0, unit: str = "ms") -> str:
    """'p10 .. p90 (n=N)' of a sample, scaled (seconds -> ms by default)."""
    return (
        f"p10 {quantile(values, 0.1) * scale:.2f} / p90 {quantile(values, 0.9) * scale:.2f} "
        f"{unit} (n={len(values)})"
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def mb(n_bytes: float) -> str:
    return f"{n_bytes / 1e6:.2f} MB"


COLUMNS = ("", "figure", "measured", "baseline", "result", "target", "verdict")


def table(figures: Sequence[Figure]) -> str:
    rows = [COLUMNS] + [
        (f.key, f.title, f.measured, f.baseline, f.result, f.target, f.verdict) for f in figures
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def details(figures: Sequence[Figure]) -> str:
    lines = []
    for f in figures:
        for line in f.details:
            lines.append(f"  {f.key:<3} {line}")
    return "\n".join(lines)


def summary(figures: Sequence[Figure]) -> str:
    if any(f.verdict == SMOKE for f in figures):
        measured = sum(f.verdict == SMOKE for f in figures)
        return (
            f"summary: smoke run, {measured} figures measured and none judged: too few "
            "repetitions for a verdict (run python -m bench without --quick for verdicts)"
        )
    counts = {v: sum(f.verdict == v for f in figures) for v in (PASS, FAIL, SKIP)}
    failed = [f.key for f in figures if f.verdict == FAIL]
    text = f"summary: {counts[PASS]} PASS, {counts[FAIL]} FAIL, {counts[SKIP]} SKIP"
    return text + (f" (failed: {', '.join(failed)})" if failed else "")
