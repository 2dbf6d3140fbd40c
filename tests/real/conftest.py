"""The real-engine tier: an unmodified A1111 v1.9.3 (tests/engine) started through src/start.sh.

On when REAL_ENGINE=1 (`.ci/run` sets it); otherwise every test here is skipped with that reason.
The engine is built once per machine (minutes, then cached) and one A1111 runs for the whole
session; a test that kills or freezes it leaves it broken and the next test that needs it gets
a fresh one (about 30 s).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import requests

from sdworker.config import Settings
from sdworker.worker import Worker
from tests.engine.build import ensure_built
from tests.engine.launch import RealWorker, engine_lock
from tests.helpers import Updates

ENABLED = os.environ.get("REAL_ENGINE") == "1"


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(
        reason="real-engine tier off: REAL_ENGINE=1 builds (once) and runs the real A1111 "
        "v1.9.3 (tests/engine; about 9 GB of memory)"
    )
    for item in items:
        if "tests/real/" in item.nodeid.replace("\\", "/") and not ENABLED:
            item.add_marker(skip)


class Engine:
    """The session's real worker; restarted when a test left it dead or frozen."""

    def __init__(self, run_root):
        self.root = ensure_built()
        self.run_root = run_root
        self.starts = 0
        self.current: RealWorker | None = None

    def get(self) -> RealWorker:
        if self.current is None or not self.current.is_healthy():
            self.restart()
        return self.current

    def restart(self) -> RealWorker:
        if self.current is not None:
            self.current.stop()
        self.starts += 1
        self.current = RealWorker(self.root, self.run_root / f"run-{self.starts}")
        self.current.start()
        return self.current

    def stop(self) -> None:
        if self.current is not None:
            self.current.stop()


@pytest.fixture(scope="session")
def engine_session(tmp_path_factory) -> Iterator[Engine]:
    engines = Engine(tmp_path_factory.mktemp("real-engine"))
    with engine_lock():
        try:
            yield engines
        finally:
            engines.stop()


@pytest.fixture
def real(engine_session) -> RealWorker:
    """The real worker (start.sh: A1111 + the handler's local API), healthy."""
    return engine_session.get()


@pytest.fixture
def make_worker(real):
    """An in-process worker on the real A1111, for what the local API cannot show
    (progress updates, cancel, a job's exact RunPod answer)."""

    def make(**settings) -> Worker:
        sink = settings.pop("sink", None)
        base = {"webui_url": real.webui_url, "ready_timeout": 30, "progress_interval": 0.2}
        return Worker(
            Settings(**{**base, **settings}), progress_sink=Updates() if sink is None else sink
        )

    return make


@pytest.fixture
def untiled_esrgan(real) -> Iterator[None]:
    """ESRGAN-family upscalers on the whole (small) image: at A1111's 192 px tile, a 32 px image
    is padded to a full tile and a random RRDBNet takes about a minute on 2 cores. The model and
    its file are the same either way; the setting is put back after the test."""
    options = real.webui_url + "/sdapi/v1/options"
    # The options API answers numbers as floats; A1111 needs this one an int (a range() bound):
    # 192.0 written back makes every tiled upscale fail with a TypeError, also in later runs.
    before = int(requests.get(options, timeout=30).json()["ESRGAN_tile"])
    requests.post(options, json={"ESRGAN_tile": 0}, timeout=30).raise_for_status()
    try:
        yield
    finally:
        if real.is_healthy():
            requests.post(options, json={"ESRGAN_tile": before}, timeout=30).raise_for_status()
