"""start.sh's go-ahead: the handler is prepared while A1111 loads and takes jobs only once
start.sh has warmed A1111 up (RunPod sends jobs as soon as `runpod.serverless.start` runs).

start.sh names an empty file in WORKER_START_GATE and writes `open` into it after the warm-up, or
`closed: <why>` when the warm-up failed. A file, not a signal: the go-ahead cannot be lost when it
comes before the handler is ready to listen.
"""

from __future__ import annotations

import os
import time

OPEN = "open"
# The handler sees the go-ahead at most this late (seconds).
POLL_INTERVAL = 0.005


class GateClosed(Exception):
    """start.sh will not let this handler take jobs (the reason is the message)."""


def wait_for_gate(path: str, timeout: float) -> None:
    """Returns once the gate opens; GateClosed if it closes, start.sh goes or time runs out."""
    parent = os.getppid()
    deadline = time.monotonic() + timeout
    while True:
        word = _read(path)
        if word == OPEN:
            return
        if word:
            raise GateClosed(word)
        if os.getppid() != parent:
            raise GateClosed("start.sh exited before the warm-up ended")
        if time.monotonic() >= deadline:
            raise GateClosed(f"no word from start.sh within {timeout:g} s")
        time.sleep(POLL_INTERVAL)


def _read(path: str) -> str:
    try:
        with open(path) as gate:
            return gate.read().strip()
    except FileNotFoundError as exc:
        raise GateClosed(f"the start gate {path} is gone") from exc
