"""Stand-in fidelity: every recorded exchange is replayed against the real A1111 and against the
stand-in, and the two must answer alike (status, error body, body shape). The real engine is
the reference: where they differ, the stand-in is wrong and is fixed, so that the fast tier
keeps telling the truth. The recordings themselves are checked against the real engine too.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from tests.test_standin_contract import (
    GENERATION_ROUTES,
    PREREQUISITES,
    _load,
    _recording_paths,
    _send,
)

# Keys whose values are free-form (their keys are data, not shape).
FREE_FORM = {"metadata", "extra_generation_params"}
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
    """JSON types and object keys, recursively; lists by their first item."""
    if key in FREE_FORM:
        return type(value).__name__
    if isinstance(value, dict):
        return {k: _shape(v, k) for k, v in sorted(value.items()) if k not in VOLATILE}
    if isinstance(value, list):
        return ["list", _shape(value[0]) if value else None]
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
