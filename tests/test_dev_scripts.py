"""The development scripts as a newcomer meets them: what scripts/venv.sh says while it installs,
and every variable the scripts and the test set-up read, documented in the README."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
from pathlib import Path

from tests.conftest import REPO_ROOT

# Stands in for `python3 -m venv .venv` and for the venv's python, so that the script's own logic
# runs without a network: it records each call and makes .venv/bin/python as venv would.
FAKE_PYTHON = """#!/usr/bin/env bash
echo "$*" >>"$CALLS"
if [ "$1 $2" = "-m venv" ]; then
    mkdir -p "$3/bin" && cp "$0" "$3/bin/python"
fi
"""


def make_checkout(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO_ROOT / "scripts" / "venv.sh", tmp_path / "scripts" / "venv.sh")
    (tmp_path / "base.txt").write_text("# runtime\nrunpod==1.12.0\nPillow>=10\n")
    (tmp_path / "dev.txt").write_text("-r base.txt\npytest>=8\nmoto[server]>=5\n")
    fake = tmp_path / "python3"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return tmp_path


def ensure_venv(checkout: Path, requirements: str) -> tuple[str, list[str]]:
    calls = checkout / "calls.log"
    calls.unlink(missing_ok=True)
    proc = subprocess.run(
        [
            "bash",
            "-c",
            f'set -euo pipefail; . scripts/venv.sh; ensure_venv "{requirements}"',
            "test",
        ],
        cwd=checkout,
        env={"PATH": "/usr/bin:/bin", "PYTHON": str(checkout / "python3"), "CALLS": str(calls)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, calls.read_text().splitlines() if calls.exists() else []


def test_venv_says_what_it_installs_and_where(tmp_path):
    checkout = make_checkout(tmp_path)
    out, calls = ensure_venv(checkout, "dev.txt")
    lines = out.splitlines()
    assert lines[0] == f"scripts/test: creating the virtual environment {checkout}/.venv " + (
        f"({checkout}/python3 -m venv)"
    )
    assert lines[1].startswith(f"scripts/test: installing dev.txt into {checkout}/.venv with pip: ")
    assert "pytest moto runpod Pillow" in lines[1]  # its packages, and those of the -r file
    assert re.fullmatch(r"scripts/test: installed in \d+ s", lines[2])
    assert calls[-1] == "-m pip install -q --disable-pip-version-check -r dev.txt"


def test_venv_is_silent_and_skips_pip_until_a_requirement_file_changes(tmp_path):
    checkout = make_checkout(tmp_path)
    ensure_venv(checkout, "dev.txt")
    out, calls = ensure_venv(checkout, "dev.txt")
    assert out == "" and calls == []
    # another requirements file has its own stamp
    out, calls = ensure_venv(checkout, "base.txt")
    assert "installing base.txt" in out and len(calls) == 1
    # an edit of an included file installs again
    (checkout / "base.txt").write_text("runpod==1.12.0\nPillow>=11\n")
    out, calls = ensure_venv(checkout, "dev.txt")
    assert "installing dev.txt" in out and len(calls) == 1


# Where the development commands and the test set-up read their variables (tests/engine has its
# own documentation, in its module docstring).
SHELL_SOURCES = [*(REPO_ROOT / "scripts").iterdir(), REPO_ROOT / ".ci" / "run"]
PYTHON_SOURCES = [
    REPO_ROOT / "tests" / "conftest.py",
    *(REPO_ROOT / "tests" / "a1111_standin").glob("*.py"),
    *(REPO_ROOT / "tests" / "image").glob("*.py"),
    *(REPO_ROOT / "tests" / "engine").glob("*.py"),
    *(REPO_ROOT / "tests" / "real").glob("*.py"),
    *(REPO_ROOT / "bench").glob("*.py"),
]
STANDARD = {"PATH", "HOME", "XDG_CACHE_HOME", "LD_PRELOAD"}


def variables_read_by_the_development_commands() -> set[str]:
    names = set()
    for path in SHELL_SOURCES:
        # ${NAME:-default}, ${NAME-default}, ${NAME:+...}: read from the environment
        names |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]*):?[-+]", path.read_text()))
    for path in PYTHON_SOURCES:
        text = path.read_text()
        names |= set(
            re.findall(r"(?:environ\.get\(|environ\[|getenv\()\s*\"([A-Z][A-Z0-9_]*)", text)
        )
    return names - STANDARD


def test_every_variable_of_the_development_commands_is_documented():
    names = variables_read_by_the_development_commands()
    assert {"STANDIN_PORT", "SHARED_DIR", "CI", "IMAGE_CHECK", "PYTHON"} <= names
    docs = (REPO_ROOT / "README.md").read_text()
    rows = {m for line in docs.splitlines() for m in re.findall(r"^\| `([A-Z][A-Z0-9_]*)`", line)}
    missing = sorted(names - rows)
    assert not missing, f"read by the development commands, no row in README.md: {missing}"


def test_the_readme_says_ci_run_by_hand_skips_the_image_check():
    docs = (REPO_ROOT / "README.md").read_text()
    intro = docs[: docs.index("\n## ")]  # where the commands are given
    assert "`.ci/run`" in intro and "skips the image check" in intro and "CI=true" in intro
    # ...which is what .ci/run and scripts/test do
    assert "scripts/test" in (REPO_ROOT / ".ci" / "run").read_text()
    script = (REPO_ROOT / "scripts" / "test").read_text()
    assert re.search(r'if \[ "\$\{CI:-\}" = "true" \]; then\s+export IMAGE_CHECK=', script)
    # ...and the real-engine tier, on under CI too, after the fast tiers
    assert "and the\nreal engine too" in intro or "real engine too" in intro.replace("\n", " ")
    assert re.search(r"export REAL_ENGINE=\$\{REAL_ENGINE:-1\}", script)
    assert script.index("--ignore=tests/real") < script.index("pytest tests/real")
