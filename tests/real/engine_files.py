"""Files a real-tier test puts into the shared engine for its own time, and takes away after
(the engine lock is held: no other test sees them)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

TOOL_WEIGHTS = Path(__file__).resolve().parents[1] / "engine" / "tool_weights.py"


def make_tool_weights(engine: Path, *args: str | Path) -> None:
    """One of tests/engine/tool_weights.py's on-demand files, made with the engine's Python."""
    python = engine / "venv" / "bin" / "python"
    command = [python, TOOL_WEIGHTS, "--webui", engine / "webui", *args]
    subprocess.run(command, check=True, timeout=600)


@contextlib.contextmanager
def for_the_test(*paths: Path) -> Iterator[None]:
    """`paths`, made inside the block, are taken away after it, with the folders above them
    that were made meanwhile (deepest first)."""
    folders = {path: [f for f in path.parents if not f.exists()] for path in paths}
    try:
        yield
    finally:
        for path, made in folders.items():
            path.unlink(missing_ok=True)
            for folder in made:
                with contextlib.suppress(OSError):
                    folder.rmdir()
