"""The stand-in's `fixed_response` config: a fixed answer per route, for the benchmarks
(bench/), so that the backend costs nothing but sending the bytes."""

from __future__ import annotations

import gzip
import http.client
import json

import requests

from tests.conftest import StandIn

ROUTE = "/sdapi/v1/txt2img"
BODY = {"images": ["A" * 5000, "B" * 3000], "parameters": {"steps": 20}, "info": "{}"}


def rendered(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def raw_post(standin: StandIn, route: str, body: bytes, headers: dict) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", standin.port, timeout=10)
    try:
        conn.request(
            "POST", route, body=body, headers={"Content-Type": "application/json", **headers}
        )
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_fixed_answer_whatever_the_request(a1111: StandIn) -> None:
    a1111.config(fixed_response={ROUTE: BODY})
    # invalid for A1111 (unknown sampler, wrong type): still the fixed answer, at once
    resp = requests.post(a1111.url + ROUTE, json={"sampler_name": "nope", "steps": "x"}, timeout=10)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert resp.json() == BODY
    # requests asks for gzip: the body was compressed once, when configured
    assert resp.headers["content-encoding"] == "gzip"
    status, headers, raw = raw_post(a1111, ROUTE, b"{}", {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert gzip.decompress(raw) == rendered(BODY)
    # a client that does not accept gzip gets the JSON as is
    status, headers, raw = raw_post(a1111, ROUTE, b"{}", {"Accept-Encoding": "identity"})
    assert status == 200 and "content-encoding" not in headers
    assert raw == rendered(BODY)


def test_other_routes_and_the_control_api_are_unchanged(a1111: StandIn) -> None:
    a1111.config(fixed_response={ROUTE: BODY, "/sdapi/v1/samplers": ["only"]})
    assert requests.get(a1111.url + "/sdapi/v1/samplers", timeout=10).json() == ["only"]
    schedulers = requests.get(a1111.url + "/sdapi/v1/schedulers", timeout=10).json()
    assert any(s["name"] == "karras" for s in schedulers)
    img2img = requests.post(a1111.url + "/sdapi/v1/img2img", json={}, timeout=10)
    assert img2img.status_code == 404  # A1111's "Init image not found": no fixed answer
    # the config shows the sizes, not the bodies
    shown = a1111.config()["fixed_response"]
    assert shown[ROUTE] == f"<fixed JSON answer: {len(rendered(BODY))} bytes>"
    assert a1111.stats()["counts"]["GET /sdapi/v1/samplers"] == 1


def test_faults_and_stats_still_apply(a1111: StandIn) -> None:
    a1111.config(fixed_response={ROUTE: BODY})
    a1111.fault(ROUTE, "status", status=500, times=1)
    assert requests.post(a1111.url + ROUTE, json={}, timeout=10).status_code == 500
    assert requests.post(a1111.url + ROUTE, json={}, timeout=10).json() == BODY
    assert a1111.stats()["counts"][f"POST {ROUTE}"] == 2
    a1111.config(fail_status=503)  # the stand-in-wide failure wins too
    assert requests.post(a1111.url + ROUTE, json={}, timeout=10).status_code == 503


def test_cleared_by_an_empty_object_and_by_reset(a1111: StandIn) -> None:
    tiny = {"prompt": "a cat", "width": 64, "height": 64, "steps": 1}
    a1111.config(fixed_response={ROUTE: BODY})
    a1111.config(fixed_response={})
    assert a1111.config()["fixed_response"] == {}
    answer = requests.post(a1111.url + ROUTE, json=tiny, timeout=30).json()
    assert len(answer["images"]) == 1 and answer["images"] != BODY["images"]
    a1111.config(fixed_response={ROUTE: BODY})
    a1111.reset()
    assert requests.post(a1111.url + ROUTE, json=tiny, timeout=30).json() != BODY


def test_bad_values_are_refused_and_change_nothing(a1111: StandIn) -> None:
    a1111.config(fixed_response={ROUTE: BODY})
    for bad in (
        ["not", "an", "object"],
        {"sdapi/v1/txt2img": {}},
        {"/__standin__/stats": {}},
        {f"/r{i}": {} for i in range(51)},
    ):
        status, body = a1111.call("POST", "/__standin__/config", {"fixed_response": bad})
        assert status == 400, bad
        assert "fixed_response" in body["detail"]
    status, body = a1111.call("POST", "/__standin__/config", raw=b'{"fixed_response": {"/x": NaN}}')
    assert status == 400 and "fixed_response" in body["detail"]
    assert requests.post(a1111.url + ROUTE, json={}, timeout=10).json() == BODY
