"""The stand-in's own requests, kept to be replayed against the real A1111.

With STANDIN_EXCHANGES=<dir> (scripts/test sets it for the fast tiers), each request that the
stand-in's A1111 routes answered while it was as at start-up (its command-line configuration,
no option changed, no fault pending) is appended to <dir>/<pid>.jsonl as
{"method", "path", "query", "body", "status"}. tests/real/test_real_fidelity.py replays them
against the real engine, which must answer alike: so the stand-in suite cannot rely on
behaviour that the real A1111 does not have.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

ENV = "STANDIN_EXCHANGES"
# Requests with bodies larger than this (big images) are not kept.
MAX_BODY = 256 * 1024

_lock = threading.Lock()


def target() -> Path | None:
    directory = os.environ.get(ENV)
    return Path(directory) / f"{os.getpid()}.jsonl" if directory else None


def record(method: str, path: str, query: str, body: bytes, status: int) -> None:
    out = target()
    if out is None or len(body) > MAX_BODY:
        return
    try:
        parsed: Any = json.loads(body) if body else None
    except ValueError:
        parsed = body.decode("utf-8", "replace")
    line = json.dumps(
        {"method": method, "path": path, "query": query, "body": parsed, "status": status}
    )
    with _lock, out.open("a") as handle:
        handle.write(line + "\n")


def load(directory: Path) -> list[dict]:
    """Every kept exchange once (the same request from many tests counts once)."""
    seen: dict[str, dict] = {}
    for path in sorted(directory.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            exchange = json.loads(line)
            key = json.dumps(
                [exchange["method"], exchange["path"], exchange["query"], exchange["body"]],
                sort_keys=True,
            )
            seen.setdefault(key, exchange)
    return [seen[key] for key in sorted(seen)]
