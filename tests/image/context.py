"""The build context the image checks start from: the repository's files as git sees them
(uncommitted work included), copied, so that a check can add its test model beside them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Debian's docker.io client (scripts/image-engine installs it).
DOCKER = "/usr/bin/docker"


def copy_repository(dest: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        src = ROOT / name.decode()
        if src.is_file():
            (dest / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name.decode())


def run_docker(env: dict, *args: str, timeout: float = 900, check: bool = True, **kw):
    """The docker client against the engine `env` points at (DOCKER_HOST); fails the test,
    with docker's output, when the command fails and `check` is set."""
    proc = subprocess.run(
        [DOCKER, *args], env=env, capture_output=True, text=True, timeout=timeout, **kw
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args[:3])}... failed:\n{proc.stdout}{proc.stderr}")
    return proc
