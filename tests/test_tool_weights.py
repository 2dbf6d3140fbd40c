"""tests/engine/tool_weights.py: what it can promise without the engine's venv."""

from __future__ import annotations

import hashlib
import sys

import pytest

from sdworker import model_files
from tests.engine import build, tool_weights


def test_the_threads_script_it_installs_is_the_one_it_pins():
    # build.py re-runs a maker only when the maker's own file changes: a changed A1111 script
    # must change the pin too, or engines would keep the old script.
    digest = hashlib.sha256(tool_weights.THREADS_SCRIPT.read_bytes()).hexdigest()
    assert digest == tool_weights.THREADS_SCRIPT_SHA256


def test_it_is_one_of_the_engines_weight_makers():
    assert tool_weights.Path(tool_weights.__file__) in build.EXTRA_WEIGHTS


def test_the_r_esrgan_layout_is_basicsrs_x4plus():
    keys = tool_weights.rrdbnet_x4plus_keys()
    # RealESRGAN_x4plus.pth: 23 RRDB blocks of 3 dense blocks of 5 convolutions, plus 6 convs.
    assert len(keys) == 702
    assert keys["conv_first.weight"] == (64, 3, 3, 3)
    assert keys["body.22.rdb3.conv5.weight"] == (64, 192, 3, 3)
    assert keys["conv_last.weight"] == (3, 64, 3, 3)


def test_the_esrgan_4x_layout_is_the_original_esrgans():
    keys = tool_weights.esrgan_old_keys()
    # KAIR's ESRGAN.pth: the same 702 tensors as x4plus, named after one nn.Sequential.
    assert len(keys) == 702
    assert keys["model.0.weight"] == (64, 3, 3, 3)
    assert keys["model.1.sub.0.RDB1.conv1.0.weight"] == (32, 64, 3, 3)
    assert keys["model.1.sub.22.RDB3.conv5.0.weight"] == (64, 192, 3, 3)
    assert keys["model.1.sub.23.weight"] == (64, 64, 3, 3)
    assert keys["model.10.weight"] == (3, 64, 3, 3)
    assert {k.split(".")[1] for k in keys} == {"0", "1", "3", "6", "8", "10"}


def test_the_upscalers_it_makes_on_demand_are_ones_the_worker_checks():
    for name in tool_weights.UPSCALERS:
        assert name in model_files.UPSCALERS


def test_an_upscaler_is_made_only_with_somewhere_to_put_it(monkeypatch, capsys):
    argv = ["tool_weights.py", "--webui", "/nowhere", "--upscaler", "SwinIR 4x"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as stop:
        tool_weights.main()
    assert stop.value.code == 2 and "--upscaler needs --out" in capsys.readouterr().err
