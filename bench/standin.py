"""The stand-in A1111 for the benchmarks: the tests' own harness, started quiet."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.a1111_standin.harness import StandIn, free_port, launch_standin

__all__ = ["StandIn", "free_port", "start"]

_LOG_DIR = Path(tempfile.mkdtemp(prefix="bench-standin-"))


def start(*args: str, port: int | None = None) -> StandIn:
    """Start it without waiting: callers that time its start-up wait themselves."""
    return launch_standin("--quiet", *args, log_dir=_LOG_DIR, wait=False, port=port)
