"""tests/engine/tool_weights.py: what it can promise without the engine's venv."""

from __future__ import annotations

import hashlib

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
