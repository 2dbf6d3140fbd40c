"""The README's commands, run as written: `scripts/run-local` (with the stand-in A1111 behind
it), then every curl command of the README's code blocks, and the one run-local suggests."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import REPO_ROOT, free_port
from tests.helpers import check_output

DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
LOCAL_API = "localhost:8000"


def curl_commands(path: Path) -> list[str]:
    """Every curl command in a Markdown file's code blocks (continued lines joined)."""
    commands = []
    for block in re.findall(r"^```[a-z]*\n(.*?)^```", path.read_text(), re.S | re.M):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if re.match(r"curl\s", line):
                commands.append(line)
            else:
                assert not re.search(r"(^|[;&|]\s*)curl\s", line), f"{path.name}: {line}"
    return commands


ALL_CURLS = [(path.name, command) for path in DOCS for command in curl_commands(path)]


def test_the_readme_has_curl_commands_and_all_target_the_local_api():
    assert len([c for name, c in ALL_CURLS if name == "README.md"]) >= 2
    for name, command in ALL_CURLS:
        # Anything else would not be checked below.
        assert LOCAL_API in command, f"{name}: {command}"


@pytest.fixture(scope="module")
def run_local(tmp_path_factory):
    """`scripts/run-local` as the README gives it, with no A1111 at WEBUI_URL: the stand-in."""
    if not (REPO_ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("scripts/run-local needs the .venv that scripts/test makes")
    port = free_port()
    env = {
        **os.environ,
        "RP_API_PORT": str(port),
        "STANDIN_PORT": str(free_port()),
        "WEBUI_URL": f"http://127.0.0.1:{free_port()}",  # nothing answers there
    }
    log_path = tmp_path_factory.mktemp("run-local") / "run-local.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            ["scripts/run-local"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the script, the stand-in and the worker: one group to stop
        )
    try:
        _wait_for(f"http://127.0.0.1:{port}/docs", proc, log_path)
        yield port, log_path
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def _wait_for(url: str, proc: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + 120  # a first run installs requirements.txt
    while time.monotonic() < deadline:
        assert proc.poll() is None, log_path.read_text()
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    pytest.fail(f"scripts/run-local did not serve within 120 s:\n{log_path.read_text()}")


def run_curl(command: str) -> dict:
    proc = subprocess.run(
        ["bash", "-c", command], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, (command, proc.stderr)
    try:
        return json.loads(proc.stdout)
    except ValueError:
        pytest.fail(f"not a JSON answer to {command}:\n{proc.stdout[:500]}")


@pytest.mark.parametrize(("doc", "command"), ALL_CURLS, ids=[f"{d}:{c}" for d, c in ALL_CURLS])
def test_each_curl_works_as_written(run_local, doc, command):
    port, _log = run_local
    body = run_curl(command.replace(LOCAL_API, f"localhost:{port}"))
    assert body.get("status") == "COMPLETED", (doc, command, body)
    check_output(command, body["output"])


def test_the_command_run_local_suggests_works(run_local):
    port, log_path = run_local
    suggested = re.search(r"\(try: (curl .*)\)", log_path.read_text())
    assert suggested, log_path.read_text()
    assert f":{port}/" in suggested.group(1)
    body = run_curl(suggested.group(1))
    assert body.get("status") == "COMPLETED", body
    assert "stand-in" in log_path.read_text()  # and it said which A1111 it uses
