"""Contract tests: the stand-in against the real A1111 v1.9.3.

Every recorded exchange in SHARED_DIR/a1111/recorded/ is replayed against the stand-in, which
must answer with the recorded status and the recorded body shape; the stand-in's request
tables are checked against the real OpenAPI document. Skipped when the shared folder is absent.
"""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from tests.a1111_standin import catalog as standin_catalog
from tests.a1111_standin import options as standin_options
from tests.a1111_standin import routes as standin_routes
from tests.a1111_standin import schema as standin_schema
from tests.conftest import SHARED_DIR, StandIn

RECORDED = SHARED_DIR / "a1111" / "recorded"
OPENAPI = SHARED_DIR / "a1111" / "openapi.json"
TRUNCATED = "...<truncated base64"
GENERATION_ROUTES = ("/sdapi/v1/txt2img", "/sdapi/v1/img2img")

# Exchanges that only make sense after others (the recording session was stateful):
# name -> recordings whose requests are replayed first (after the per-test reset).
PREREQUISITES = {
    "txt2img_after_clip_skip2": ["post_options_clip_skip2"],
    "get_options_after": ["post_options_clip_skip2"],
    "post_options_restore": ["post_options_clip_skip2"],
}


def _recording_paths() -> list[Path]:
    if not RECORDED.is_dir():
        return []
    return sorted(p for p in RECORDED.glob("*.json") if not p.name.endswith(".full.json"))


def _full_paths() -> list[Path]:
    if not RECORDED.is_dir():
        return []
    return sorted(RECORDED.glob("*.full.json"))


def _need_recordings() -> None:
    if not RECORDED.is_dir():
        pytest.skip(f"A1111 recordings not found at {RECORDED} (set SHARED_DIR)")


def _load(name: str) -> dict:
    path = RECORDED / f"{name}.json"
    if not path.is_file():
        pytest.skip(f"recording {path.name} is missing")
    return json.loads(path.read_text())


# --- requests -----------------------------------------------------------------------------


def _png_size_from_b64(prefix: str) -> tuple[int, int] | None:
    """Width and height from the IHDR at the start of a (possibly cut) base64 PNG."""
    if prefix.startswith("data:"):
        prefix = prefix.split(",", 1)[1]
    head = prefix[:32]
    try:
        raw = base64.b64decode(head[: len(head) // 4 * 4])
    except ValueError:
        return None
    if len(raw) < 24 or raw[:8] != b"\x89PNG\r\n\x1a\n" or raw[12:16] != b"IHDR":
        return None
    return int.from_bytes(raw[16:20], "big"), int.from_bytes(raw[20:24], "big")


def _small_png_b64(size: tuple[int, int]) -> str:
    image = Image.new("RGB", size, (120, 90, 200))
    for x in range(0, size[0], 4):
        image.putpixel((x, x % size[1]), (250, 250, 10))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _fill_truncated(value: Any) -> Any:
    """Replace cut base64 images in a recorded request with real PNGs of the same size."""
    if isinstance(value, str) and TRUNCATED in value:
        prefix = value.split(TRUNCATED, 1)[0]
        png = _small_png_b64(_png_size_from_b64(prefix) or (64, 64))
        return f"data:image/png;base64,{png}" if value.startswith("data:") else png
    if isinstance(value, list):
        return [_fill_truncated(v) for v in value]
    if isinstance(value, dict):
        return {k: _fill_truncated(v) for k, v in value.items()}
    return value


def _send(standin: StandIn, request: dict) -> requests.Response:
    body = request.get("body")
    headers = {}
    data = None
    if isinstance(body, str):  # sent as is: invalid JSON, empty body, "[1,2]"
        data = body.encode()
        headers["Content-Type"] = "application/json"
    elif body is not None:
        data = json.dumps(_fill_truncated(body)).encode()
        headers["Content-Type"] = "application/json"
    return requests.request(
        request["method"], standin.url + request["path"], data=data, headers=headers, timeout=60
    )


def _replay_prerequisites(standin: StandIn, name: str) -> None:
    for before in PREREQUISITES.get(name, []):
        rec = _load(before)
        resp = _send(standin, rec["request"])
        assert resp.status_code == rec["status"], f"prerequisite {before}: {resp.text[:300]}"


# --- comparisons --------------------------------------------------------------------------


def _same_shape(ours: Any, recorded: Any, where: str = "body") -> None:
    """Same JSON types and, for objects, the same keys (recursively; lists by first item)."""
    if recorded is None:
        return
    if isinstance(recorded, bool):
        assert isinstance(ours, bool), f"{where}: {ours!r} is not a boolean"
    elif isinstance(recorded, (int, float)):
        assert isinstance(ours, (int, float)) and not isinstance(ours, bool), where
    elif isinstance(recorded, str):
        assert isinstance(ours, str), f"{where}: {ours!r} is not a string"
    elif isinstance(recorded, list):
        assert isinstance(ours, list), f"{where}: {ours!r} is not a list"
        if recorded and ours:
            _same_shape(ours[0], recorded[0], f"{where}[0]")
    elif isinstance(recorded, dict):
        assert isinstance(ours, dict), f"{where}: {ours!r} is not an object"
        assert list(ours) == list(recorded), f"{where}: keys differ"
        for key in recorded:
            _same_shape(ours[key], recorded[key], f"{where}.{key}")


def _normalise_seeds(text: str) -> str:
    return re.sub(r"\bSeed: -?\d+", "Seed: <seed>", text)


def _decode_png(b64: str) -> Image.Image:
    raw = base64.b64decode(b64, validate=True)
    assert raw[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    image = Image.open(io.BytesIO(raw))
    image.load()
    return image


def _check_generation(request: dict, recorded: dict, ours: dict) -> None:
    assert list(ours) == list(recorded)
    assert ours["parameters"] == recorded["parameters"]
    assert list(ours["parameters"]) == list(recorded["parameters"])
    rec_info, info = json.loads(recorded["info"]), json.loads(ours["info"])
    assert list(info) == list(rec_info)
    varying = {"seed", "all_seeds", "subseed", "all_subseeds", "infotexts", "job_timestamp"}
    for key in rec_info:
        if key not in varying:
            assert info[key] == rec_info[key], f"info.{key}"
            assert type(info[key]) is type(rec_info[key]), f"info.{key} type"
    requested_seed = (request.get("body") or {}).get("seed", -1)
    if requested_seed != -1:
        assert info["seed"] == rec_info["seed"]
        assert info["all_seeds"] == rec_info["all_seeds"]
    for key in ("seed", "subseed"):
        values = info[f"all_{key}s"]
        assert info[key] == values[0] and all(isinstance(v, int) for v in values)
        assert len(values) == len(rec_info[f"all_{key}s"])
        assert values == [values[0] + i for i in range(len(values))]
    assert re.fullmatch(r"\d{14}", info["job_timestamp"])
    assert [_normalise_seeds(t) for t in info["infotexts"]] == [
        _normalise_seeds(t) for t in rec_info["infotexts"]
    ]
    assert [re.search(r"Seed: (\d+)", t).group(1) for t in info["infotexts"]] == [
        str(s) for s in info["all_seeds"]
    ]
    # images: as many, real PNGs of the recorded size, infotext in a "parameters" chunk
    assert len(ours["images"]) == len(recorded["images"])
    for i, (mine, theirs) in enumerate(zip(ours["images"], recorded["images"], strict=True)):
        assert not mine.startswith("data:")
        image = _decode_png(mine)
        expected_size = _png_size_from_b64(theirs)
        assert expected_size is not None
        assert image.size == expected_size, f"image {i}"
        assert image.mode == "RGB"
        assert image.info.get("parameters") == info["infotexts"][i]


def _check_options(name: str, recorded: dict, ours: dict) -> None:
    assert 40 <= len(ours) <= len(recorded)
    unknown = [k for k in ours if k not in recorded]
    assert not unknown, f"options A1111 does not have: {unknown}"
    assert [k for k in recorded if k in ours] == list(ours), "option order differs"
    for key, value in ours.items():
        assert value == recorded[key], f"option {key}: {value!r} != {recorded[key]!r}"
        assert type(value) is type(recorded[key]), f"option {key}: type"


def _check_list(path: str, recorded: list, ours: list) -> None:
    assert isinstance(ours, list)
    if path in ("/sdapi/v1/samplers", "/sdapi/v1/schedulers"):
        assert ours == recorded
        return
    if recorded:
        keys = list(recorded[0])
        assert all(list(item) == keys for item in ours), "list items have other keys"
    if path == "/sdapi/v1/sd-models":
        for item in recorded:
            assert item in ours, f"model {item.get('title')} missing"
    elif path == "/sdapi/v1/loras":
        by_name = {item["name"]: item for item in ours}
        for item in recorded:
            mine = by_name.get(item["name"])
            assert mine is not None, f"LoRA {item['name']} missing"
            assert mine["alias"] == item["alias"] and mine["path"] == item["path"]
            assert set(mine["metadata"]) == set(item["metadata"])
    else:
        assert len(ours) >= len(recorded)
        for mine, theirs in zip(ours, recorded, strict=False):
            _same_shape(mine, theirs, path)


def _check_response(name: str, request: dict, recorded: Any, resp: requests.Response) -> None:
    assert resp.headers.get("content-type", "").startswith("application/json")
    ours = resp.json()
    path = request["path"]
    if isinstance(recorded, dict) and "error" in recorded:
        assert ours == recorded  # A1111's own error: class, detail and message
    elif isinstance(recorded, dict) and isinstance(recorded.get("detail"), (list, str)):
        assert ours == recorded  # FastAPI validation (422) and routing (404/405) errors
    elif path in GENERATION_ROUTES and resp.status_code == 200:
        _check_generation(request, recorded, ours)
    elif path == "/sdapi/v1/options" and request["method"] == "GET":
        _check_options(name, recorded, ours)
    elif isinstance(recorded, list):
        _check_list(path, recorded, ours)
    elif path == "/sdapi/v1/cmd-flags":
        assert list(ours) == list(recorded) + list(standin_catalog.EXTENSION_FLAGS)
        for key, value in recorded.items():
            if key == "port":
                assert isinstance(ours[key], str) and ours[key].isdigit()
            else:
                assert ours[key] == value, f"flag {key}"
    elif path == "/sdapi/v1/progress":
        _same_shape(ours, recorded)
        assert ours["progress"] == 0.0 and ours["eta_relative"] == 0.0
        assert ours["state"]["job"] == "" and ours["state"]["job_count"] == 0
    elif path == "/sdapi/v1/memory":
        _same_shape(ours, recorded)
        assert ours["cuda"] == recorded["cuda"]
        assert [type(v) for v in ours["ram"].values()] == [
            type(v) for v in recorded["ram"].values()
        ]
    elif recorded is None or path == "/sdapi/v1/embeddings":
        assert ours == recorded
    else:
        _same_shape(ours, recorded)


# --- tests --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", [p.stem for p in _recording_paths()] or ["(no recordings)"], ids=str
)
def test_recorded_exchange(a1111: StandIn, name: str) -> None:
    _need_recordings()
    rec = _load(name)
    _replay_prerequisites(a1111, name)
    resp = _send(a1111, rec["request"])
    assert resp.status_code == rec["status"], resp.text[:500]
    _check_response(name, rec["request"], rec["response"], resp)


@pytest.mark.parametrize(
    "name", [p.name[: -len(".full.json")] for p in _full_paths()] or ["(no recordings)"], ids=str
)
def test_recorded_full_images(a1111: StandIn, name: str) -> None:
    """The complete recorded images: ours are PNGs like them (size, mode, text chunks)."""
    _need_recordings()
    full = json.loads((RECORDED / f"{name}.full.json").read_text())
    rec = _load(name)
    resp = _send(a1111, rec["request"])
    assert resp.status_code == 200
    ours = resp.json()
    assert ours["parameters"] == full["parameters"]
    full_info = json.loads(full["info"])
    for mine, theirs, text in zip(
        ours["images"], full["images"], full_info["infotexts"], strict=True
    ):
        real, image = _decode_png(theirs), _decode_png(mine)
        assert real.info["parameters"] == text  # the recording is self-consistent
        assert image.size == real.size and image.mode == real.mode
        assert set(image.info) == set(real.info)
        assert _normalise_seeds(image.info["parameters"]) == _normalise_seeds(text)


# --- the stand-in's tables against A1111's OpenAPI document ------------------------------

_KIND_TO_OPENAPI = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "dict": {"type": "object"},
    "list": {"type": "array", "items": {}},
    "list[str]": {"type": "array", "items": {"type": "string"}},
    "list[FileData]": {"type": "array", "items": {"$ref": "#/components/schemas/FileData"}},
}


@pytest.fixture(scope="module")
def openapi() -> dict:
    if not OPENAPI.is_file():
        pytest.skip(f"A1111's OpenAPI document not found at {OPENAPI} (set SHARED_DIR)")
    return json.loads(OPENAPI.read_text())


def _schema_of(doc: dict, ref_or_schema: dict) -> dict:
    ref = ref_or_schema.get("$ref")
    if ref:
        return doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return ref_or_schema


@pytest.mark.parametrize("route", sorted(standin_schema.REQUEST_MODELS))
def test_request_table_matches_openapi(openapi: dict, route: str) -> None:
    fields = standin_schema.REQUEST_MODELS[route]
    body = openapi["paths"][route]["post"]["requestBody"]["content"]["application/json"]
    model = _schema_of(openapi, body["schema"])
    props = model["properties"]
    assert [f.name for f in fields] == list(props), "field names or order differ"
    assert {f.name for f in fields if f.required} == set(model.get("required", []))
    for fld in fields:
        prop = {k: v for k, v in props[fld.name].items() if k not in ("title", "description")}
        if fld.kind == "literal":
            assert prop.get("enum") == list(fld.choices), fld.name
            assert prop.get("type") == "integer", fld.name
        else:
            for key, value in _KIND_TO_OPENAPI[fld.kind].items():
                assert prop.get(key) == value, f"{fld.name}: {key}"
        if fld.required:
            assert "default" not in prop, fld.name
        else:
            assert prop.get("default") == fld.default, f"{fld.name}: default"
            assert type(prop.get("default")) is type(fld.default), f"{fld.name}: default type"
        assert prop.get("minimum") == fld.ge, f"{fld.name}: minimum"
        assert prop.get("maximum") == fld.le, f"{fld.name}: maximum"
        assert prop.get("exclusiveMinimum") == fld.gt, f"{fld.name}: exclusiveMinimum"


def test_filedata_table_matches_openapi(openapi: dict) -> None:
    model = openapi["components"]["schemas"]["FileData"]
    assert [f.name for f in standin_schema.FILEDATA_FIELDS] == list(model["properties"])
    assert set(model["required"]) == {f.name for f in standin_schema.FILEDATA_FIELDS}


def test_options_table_matches_openapi(openapi: dict) -> None:
    props = openapi["components"]["schemas"]["Options"]["properties"]
    names = [name for name, _, _ in standin_options.OPTIONS]
    assert len(names) == len(set(names))
    assert [k for k in props if k in names] == names, "unknown option or other order"
    for name, typ, default in standin_options.OPTIONS:
        assert props[name].get("type") == typ, name
        assert props[name].get("default") == default, name
        assert type(props[name].get("default")) is type(default), name


def test_routes_match_openapi(openapi: dict) -> None:
    real = {(path, method.upper()) for path, ops in openapi["paths"].items() for method in ops}
    # The OpenAPI document is A1111's without extensions: their routes are checked by their
    # own tests against the real engine.
    extensions = ("/adetailer/", "/controlnet/")
    ours = {
        (path, method)
        for path, ops in standin_routes.ROUTES.items()
        for method in ops
        if not path.startswith(extensions)
    }
    assert ours == real
