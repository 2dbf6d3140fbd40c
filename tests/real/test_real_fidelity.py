"""Stand-in fidelity: every recorded exchange, and the requests the stand-in suite itself sent
(tests/a1111_standin/exchanges.py), are replayed against the real A1111 and against the
stand-in, and the two must answer alike (status, error body, body shape). The real engine is
the reference: where they differ, the stand-in is wrong and is fixed, so that the fast tier
keeps telling the truth. The recordings themselves are checked against the real engine too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from tests.a1111_standin import exchanges
from tests.test_standin_contract import (
    GENERATION_ROUTES,
    PREREQUISITES,
    _load,
    _recording_paths,
    _send,
)

# Keys whose values are free-form (their keys are data, not shape).
FREE_FORM = {"metadata", "extra_generation_params"}


class _AnyItem:
    def __eq__(self, other: object) -> bool:
        return True

    def __repr__(self) -> str:
        return "<any>"


ANY_ITEM = _AnyItem()
# The generation in a recording ran on the recording machine: timings and memory differ.
VOLATILE = {"job_timestamp"}


def _replay(url: str, name: str) -> tuple[int, Any]:
    target = SimpleNamespace(url=url)
    for before in PREREQUISITES.get(name, []):
        _send(target, _load(before)["request"])
    resp = _send(target, _load(name)["request"])
    try:
        return resp.status_code, resp.json()
    except ValueError:
        return resp.status_code, resp.text


def _shape(value: Any, key: str = "") -> Any:
    """JSON types and object keys, recursively; lists by their first item (an empty list, as
    a list of models that are not installed on one side, matches any list)."""
    if key in FREE_FORM:
        return type(value).__name__
    if isinstance(value, dict):
        return {k: _shape(v, k) for k, v in sorted(value.items()) if k not in VOLATILE}
    if isinstance(value, list):
        return ["list", _shape(value[0]) if value else ANY_ITEM]
    if isinstance(value, bool) or value is None:
        return type(value).__name__
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def _info_shape(body: dict) -> Any:
    info = json.loads(body["info"]) if isinstance(body.get("info"), str) else body.get("info")
    return _shape(info)


@pytest.fixture
def both(real, a1111):
    """The real A1111 and a fresh stand-in, each with its options as after start-up."""
    yield real.webui_url, a1111.url
    # Options a recording changed (clip skip) are put back on the real engine.
    _send(SimpleNamespace(url=real.webui_url), _load("post_options_restore")["request"])


@pytest.mark.parametrize("path", _recording_paths(), ids=lambda p: p.stem)
def test_the_stand_in_answers_like_the_real_engine(both, path):
    real_url, standin_url = both
    name = path.stem
    recorded = _load(name)
    real_status, real_body = _replay(real_url, name)
    standin_status, standin_body = _replay(standin_url, name)
    assert real_status == recorded["status"], f"the recording is not what A1111 does: {real_body}"
    assert standin_status == real_status, f"stand-in {standin_body!r} vs real {real_body!r}"
    if isinstance(real_body, dict) and ("error" in real_body or "detail" in real_body):
        assert standin_body == real_body
    elif recorded["request"]["path"] in GENERATION_ROUTES:
        assert _shape(standin_body) == _shape(real_body)
        assert _info_shape(standin_body) == _info_shape(real_body)
        assert len(standin_body["images"]) == len(real_body["images"])
    else:
        assert _shape(standin_body) == _shape(real_body)


# --- the stand-in suite's own requests -------------------------------------------------------

# Routes whose requests change what later ones see (options, lists, the running job), or that
# only make sense in the stand-in's timing: not replayed.
NOT_REPLAYED = {
    "/sdapi/v1/options",
    "/sdapi/v1/interrupt",
    "/sdapi/v1/skip",
    "/sdapi/v1/progress",
    "/sdapi/v1/memory",
    "/sdapi/v1/server-kill",
    "/sdapi/v1/server-restart",
    "/sdapi/v1/server-stop",
}
GENERATION_BUDGET = 64 * 64 * 4 * 2  # pixels x steps x images: a second or two on 2 cores
MAX_REPLAYS = 80


def _cheap(exchange: dict) -> bool:
    path, body = exchange["path"], exchange["body"]
    if path in NOT_REPLAYED or "refresh" in path or exchange["method"] not in ("GET", "POST"):
        return False
    if path in GENERATION_ROUTES and isinstance(body, dict):
        if 400 <= exchange["status"] < 500:
            return True  # refused before any work
        size = _number(body.get("width"), 512) * _number(body.get("height"), 512)
        images = _number(body.get("batch_size"), 1) * _number(body.get("n_iter"), 1)
        steps = _number(body.get("steps"), 50) * (2 if body.get("enable_hr") else 1)
        return size * images * steps <= GENERATION_BUDGET
    return True


def _number(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _standin_exchanges() -> list[dict]:
    directory = os.environ.get(exchanges.ENV)
    if not directory or not Path(directory).is_dir():
        return []
    kept = [e for e in exchanges.load(Path(directory)) if _cheap(e)]
    # Every refusal and every read first (cheap, and where the two most often part), then
    # generations up to the cap.
    kept.sort(key=lambda e: e["path"] in GENERATION_ROUTES and e["status"] == 200)
    return kept[:MAX_REPLAYS]


def _send_exchange(url: str, exchange: dict) -> tuple[int, Any]:
    body = exchange["body"]
    data = None if body is None else json.dumps(body).encode()
    query = f"?{exchange['query']}" if exchange["query"] else ""
    resp = requests.request(
        exchange["method"],
        url + exchange["path"] + query,
        data=data,
        headers={"Content-Type": "application/json"} if data is not None else {},
        timeout=300,
    )
    try:
        return resp.status_code, resp.json()
    except ValueError:
        return resp.status_code, resp.text


STANDIN_EXCHANGES = _standin_exchanges()


@pytest.mark.skipif(
    not STANDIN_EXCHANGES,
    reason=f"no stand-in requests kept: run the fast tiers with {exchanges.ENV}=<dir> first "
    "(scripts/test does)",
)
@pytest.mark.parametrize(
    "exchange",
    STANDIN_EXCHANGES,
    ids=[f"{e['method']} {e['path']} #{i}" for i, e in enumerate(STANDIN_EXCHANGES)],
)
def test_the_stand_in_suites_requests_get_the_same_answers_from_the_real_engine(both, exchange):
    real_url, standin_url = both
    real_status, real_body = _send_exchange(real_url, exchange)
    standin_status, standin_body = _send_exchange(standin_url, exchange)
    assert standin_status == real_status, (
        f"stand-in {standin_body!r:.300} vs real {real_body!r:.300}"
    )
    if isinstance(real_body, dict) and ("error" in real_body or "detail" in real_body):
        assert standin_body == real_body
    else:
        assert _shape(standin_body) == _shape(real_body)
