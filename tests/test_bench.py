"""Smoke tests of the benchmarks (bench/): `python -m bench` runs with a tiny iteration count and
prints every figure. The figures themselves are not checked: benchmarks are not tests."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys

from PIL import Image

from bench import payloads
from tests.conftest import REPO_ROOT, StandIn

VERDICT = r"(PASS|FAIL|SKIP|SMOKE)"
SUMMARY = (
    r"^summary: (\d+ PASS, \d+ FAIL, \d+ SKIP|smoke run, \d+ figures measured and none judged)"
)


def run_bench(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert re.search(SUMMARY, proc.stdout, re.M), proc.stdout
    assert proc.stdout.startswith("command: python -m bench")
    return proc.stdout


def row(out: str, key: str) -> str:
    found = re.search(rf"^{key}\s+\S.*\s{VERDICT}$", out, re.M)
    assert found, f"no row for figure {key}:\n{out}"
    return found.group(0)


def test_quick_run_prints_every_figure_and_judges_none() -> None:
    """A few repetitions are a smoke test, and the output says so rather than PASS or FAIL."""
    out = run_bench("--quick", "--iterations", "1")
    assert "mode: smoke run (--quick)" in out
    for key in ("1a", "1b", "2", "3"):
        assert row(out, key).endswith("SMOKE"), out
        assert re.search(rf"^\s+{key}\s+smoke run: .+ against <= .+ is not judged$", out, re.M)
    assert re.search(r"^summary: smoke run, [45] figures measured and none judged", out, re.M)
    # the output-size figure needs scikit-image's photo (requirements-bench.txt); without it,
    # it says so
    if row(out, "4").endswith("SKIP"):
        assert "pip install -r requirements-bench.txt" in out
    assert re.search(r"^\s+1b\s+result 6\.\d\d MB of base64", out, re.M), out


def test_against_any_a1111(a1111: StandIn) -> None:
    """--webui-url: the overhead figures against a server that really generates."""
    out = run_bench("--webui-url", a1111.url, "--iterations", "1", "--steps", "1")
    # not a smoke run: the figures are judged
    assert re.search(r"(PASS|FAIL)$", row(out, "5a")) and re.search(r"(PASS|FAIL)$", row(out, "5b"))
    assert "smoke" not in out
    assert a1111.stats()["counts"]["POST /sdapi/v1/txt2img"] >= 2 * 3


def test_the_large_answer_is_realistic() -> None:
    images = payloads.images(1024, 4)
    total = sum(len(b64) for b64 in images)
    assert 5_500_000 < total < 7_000_000  # ~6 MB of base64, as a real batch of four
    assert len(set(images)) == 4
    for b64 in images:
        with Image.open(io.BytesIO(base64.b64decode(b64))) as img:
            assert img.format == "PNG" and img.size == (1024, 1024)
