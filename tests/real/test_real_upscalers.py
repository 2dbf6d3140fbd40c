"""The baked upscalers other than R-ESRGAN 4x+ really run on the real A1111, offline, by name.

The engine has none of their files (the refusal tests need them absent), so each test makes one
with tests/engine/tool_weights.py --upscaler: random weights in the real architecture and file
layout, at the place models/_tools/manifest.json bakes it, for the test's time. A1111 started
without the file lists the upscaler by its download entry, which resolves the URL to that fixed
file name in the models folder: with the file there, nothing is downloaded. Random weights make
no good picture, but pixels that differ from Lanczos (A1111's silent fallback) show the model ran.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import random
from pathlib import Path

import pytest
from PIL import Image

from tests.engine.launch import RealWorker
from tests.real.engine_files import for_the_test, make_tool_weights
from tests.real.test_real_refusals import refused
from tests.real.test_real_tools import completed, log_mark, log_since, pixels

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "models" / "_tools" / "manifest.json"
# Where the image bakes each one, under A1111's models folder.
BAKED = {
    "R-ESRGAN 4x+ Anime6B": "RealESRGAN/RealESRGAN_x4plus_anime_6B.pth",
    "ESRGAN_4x": "ESRGAN/ESRGAN_4x.pth",
    "SwinIR 4x": "SwinIR/SwinIR_4x.pth",
}
# SwinIR keeps its last model (UpscalerSwinIR._cached_model, keyed by the entry's URL and tile
# size) and still upscales with it once the file is gone, where the refusal tests expect A1111's
# Lanczos fallback: the next test gets a fresh A1111. The R-ESRGAN and ESRGAN entries load the
# file on each use and fall back once it is gone.
KEEPS_ITS_MODEL = {"SwinIR 4x"}


def texture(name: str, size: int = 32) -> str:
    """Noise of its own for each upscaler. A1111 keeps the last five extras upscales (keyed by
    the pixels, the upscaler's name and the factor): another test's image could be answered
    from that cache, and this one's must not answer another test."""
    raw = random.Random(name).randbytes(size * size * 3)
    buf = io.BytesIO()
    Image.frombytes("RGB", (size, size), raw).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


@pytest.fixture
def place_upscaler(real):
    """Makes an upscaler's file at its baked place; takes it (and any folder made) away after."""
    engine = Path(real.engine)
    with contextlib.ExitStack() as after:

        def place(name: str) -> Path:
            target = engine / "webui" / "models" / BAKED[name]
            assert not target.exists(), f"{target} is already there"
            if name in KEEPS_ITS_MODEL:
                after.callback(real.stop)
            after.enter_context(for_the_test(target))
            make_tool_weights(engine, "--upscaler", name, "--out", target)
            return target

        yield place


def test_the_files_made_here_are_the_ones_the_image_bakes():
    baked = {entry["target"] for entry in json.loads(MANIFEST.read_text())["files"]}
    assert set(BAKED.values()) <= baked


@pytest.mark.parametrize("name", list(BAKED))
def test_an_extras_upscale_runs_the_baked_model_not_lanczos(
    real, place_upscaler, untiled_esrgan, name
):
    job = {"api": "extras", "image": texture(name), "upscaling_resize": 2}
    lanczos = completed(real, {**job, "upscaler_1": "Lanczos"})
    # Without the file the worker refuses it, naming the file: its check reads the disk.
    assert Path(BAKED[name]).name in refused(real, {**job, "upscaler_1": name})
    place_upscaler(name)
    mark = log_mark(real)
    output = completed(real, {**job, "upscaler_1": name})
    log = log_since(real, mark)
    assert pixels(output["image"]) != pixels(lanczos["image"])
    assert Image.open(io.BytesIO(base64.b64decode(output["image"]))).size == (64, 64)
    assert f"Postprocess upscaler: {name}" in output["html_info"]
    assert "Downloading" not in log, log[-2000:]
    # A1111's lines when loading fails, or when spandrel sees another architecture
    for failure in ("Unable to load", "Failed loading", "is not a '"):
        assert failure not in log, log[-2000:]


def test_the_baked_swinir_is_listed_by_its_file_name_and_runs(engine_session, tmp_path):
    """In the image the file is there when A1111 starts: A1111 then lists it by its file name,
    'SwinIR_4x', and no longer lists its download entry 'SwinIR 4x'."""
    target = engine_session.root / "webui" / "models" / BAKED["SwinIR 4x"]
    engine_session.stop()  # one real A1111 at a time; the next test gets a fresh one
    worker = RealWorker(engine_session.root, tmp_path / "run")
    with for_the_test(target):
        make_tool_weights(engine_session.root, "--upscaler", "SwinIR 4x", "--out", target)
        try:
            worker.start()
            listed = {u["name"]: u for u in completed(worker, {"api": "getUpscalers"})}
            job = {"api": "extras", "image": texture("SwinIR_4x"), "upscaling_resize": 2}
            lanczos = completed(worker, {**job, "upscaler_1": "Lanczos"})
            output = completed(worker, {**job, "upscaler_1": "SwinIR_4x"})
            # The usual name is refused (A1111 would not find it), pointing at the listed one.
            error = refused(worker, {**job, "upscaler_1": "SwinIR 4x"})
        finally:
            worker.stop()
    assert listed["SwinIR_4x"]["installed"] is True and "SwinIR 4x" not in listed
    assert pixels(output["image"]) != pixels(lanczos["image"])
    assert "Postprocess upscaler: SwinIR_4x" in output["html_info"]
    assert "'SwinIR 4x'" in error and "SwinIR_4x" in error
