"""Input models: bounds, unknown fields, images, and parity with A1111's own schema."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sdworker.errors import JobError
from sdworker.inputs import (
    WORKER_FIELDS,
    ExtrasInput,
    Img2ImgInput,
    InterrogateInput,
    OptionsInput,
    PngInfoInput,
    Txt2ImgInput,
    is_path_option,
    validate,
)
from tests.helpers import png_b64

SHARED = Path(os.environ.get("SHARED_DIR", Path(__file__).resolve().parents[1].parent / "shared"))
OPENAPI = SHARED / "a1111" / "openapi.json"


def error_of(model, payload, **context) -> str:
    with pytest.raises(JobError) as info:
        validate(model, payload, context or None)
    return info.value.message


@pytest.mark.parametrize(
    ("model", "schema"),
    [
        (Txt2ImgInput, "StableDiffusionProcessingTxt2Img"),
        (Img2ImgInput, "StableDiffusionProcessingImg2Img"),
        (ExtrasInput, "ExtrasSingleImageRequest"),
        (PngInfoInput, "PNGInfoRequest"),
        (InterrogateInput, "InterrogateRequest"),
    ],
)
def test_fields_match_the_real_a1111_schema(model, schema):
    if not OPENAPI.exists():
        pytest.skip(f"{OPENAPI} is absent: the real A1111 schema is needed for this check")
    real = json.loads(OPENAPI.read_text())["components"]["schemas"][schema]["properties"]
    assert set(model.model_fields) - WORKER_FIELDS == set(real)
    json_types = {"integer": int, "number": float, "string": str, "boolean": bool}
    for name, spec in real.items():
        if spec.get("type") in json_types:
            annotation = str(model.model_fields[name].annotation)
            assert json_types[spec["type"]].__name__ in annotation or "Literal" in annotation, name


def test_valid_payload_passes_and_only_given_fields_are_sent():
    sent = validate(Txt2ImgInput, {"prompt": "a cat", "steps": "20", "width": 512, "seed": None})
    assert sent == {"prompt": "a cat", "steps": 20, "width": 512}


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ({"steps": 0}, ["steps", "1..150", "got 0"]),
        ({"steps": 151}, ["steps", "150"]),
        ({"width": 65}, ["width", "multiple of 8", "got 65"]),
        ({"height": 4096}, ["height", "2048"]),
        ({"width": "abc"}, ["width", "integer"]),
        ({"cfg_scale": 0}, ["cfg_scale", "1..30"]),
        ({"batch_size": 9}, ["batch_size", "1..8"]),
        ({"n_iter": 0}, ["n_iter"]),
        ({"denoising_strength": 1.5}, ["denoising_strength", "0..1"]),
        ({"seed": -2}, ["seed"]),
        ({"seed": 2**32}, ["seed"]),
        ({"prompt": 5}, ["prompt", "string"]),
        ({"enable_hr": True}, ["denoising_strength", "enable_hr"]),
        ({"hr_scale": 8}, ["hr_scale"]),
        ({"styles": "x"}, ["styles", "list"]),
        ({"override_settings_restore_afterwards": False}, ["setOptions", "leak"]),
        ({"timeout": 0}, ["timeout", "JOB_TIMEOUT"]),
    ],
)
def test_bad_values_are_named_with_what_is_allowed(payload, words):
    message = error_of(Txt2ImgInput, payload)
    for word in words:
        assert word in message


def test_max_dimension_is_configurable():
    assert validate(Txt2ImgInput, {"width": 2048}) == {"width": 2048}
    assert "from 64 to 1024" in error_of(Txt2ImgInput, {"width": 2048}, max_dimension=1024)


def test_messages_show_the_limits_in_force():
    message = error_of(Txt2ImgInput, {"width": 1024}, max_dimension=512)
    assert "must be a multiple of 8 from 64 to 512 (got 1024)" in message
    assert "allowed: Multiple of 8, 64..MAX_DIMENSION (512 on this worker)" in message
    assert "2048" not in message
    message = error_of(Txt2ImgInput, {"timeout": 5000}, job_timeout=100)
    assert "at most JOB_TIMEOUT (100 on this worker)" in message and "580" not in message
    # without the worker's settings (the input reference): the defaults, said to be defaults
    assert "MAX_DIMENSION (default 2048)" in error_of(Txt2ImgInput, {"width": 4096})


def test_no_description_hard_codes_a_worker_limit():
    """A variable named in a description is a {PLACEHOLDER}, spelt out with the value in force."""
    from sdworker.config import VARIABLES
    from sdworker.operations import OPERATIONS

    named = 0
    for op in OPERATIONS.values():
        for name, field in op.input.model_fields.items():
            text = field.description or ""
            for variable in VARIABLES:
                if variable in text:
                    named += 1
                    assert "{" + variable + "}" in text, (op.name, name, text)
                    assert text.count(variable) == text.count("{" + variable + "}"), text
    assert named >= 4  # width, height (txt2img, img2img), timeout...


def test_unknown_field_gets_a_did_you_mean_hint():
    message = error_of(Txt2ImgInput, {"setps": 20, "prompt": "x"})
    assert "'setps'" in message and "did you mean 'steps'" in message


def test_img2img_needs_decodable_images():
    assert "init_images" in error_of(Img2ImgInput, {"prompt": "x"})
    assert "not valid base64" in error_of(Img2ImgInput, {"init_images": ["not-base64!!!"]})
    not_image = "aGVsbG8gd29ybGQ="  # "hello world"
    assert "not a readable image" in error_of(Img2ImgInput, {"init_images": [not_image]})
    good = png_b64()
    assert validate(Img2ImgInput, {"init_images": [good]}) == {"init_images": [good]}
    uri = "data:image/png;base64," + good
    assert validate(Img2ImgInput, {"init_images": [uri], "mask": uri})["mask"] == uri


def test_image_size_cap():
    message = error_of(Img2ImgInput, {"init_images": [png_b64(256, 256)]}, max_image_bytes=100)
    assert "image limit" in message


def test_error_never_echoes_image_data():
    bad = "A" * 5000 + "!!"
    message = error_of(Img2ImgInput, {"init_images": [bad]})
    assert "AAAA" not in message and "5002 characters" in message


def test_options_allow_list_and_paths():
    clip_skip = {"CLIP_stop_at_last_layers": 2}
    assert validate(OptionsInput, clip_skip) == clip_skip
    assert "CLIP_stop_at_last_layers" in error_of(OptionsInput, {"CLIP_stop_at_last_layers": "abc"})
    # Other names pass here: only A1111's option list can say why each is refused (checks.py).
    assert validate(OptionsInput, {"samples_save": True}) == {"samples_save": True}
    for name in ("outdir_txt2img_samples", "temp_dir", "save_images_add_number", "ckpt_dir"):
        assert is_path_option(name)
    for name in OptionsInput.model_fields:
        assert not is_path_option(name), name


def test_interrogate_model_is_an_enum():
    assert "deepdanbooru" in error_of(InterrogateInput, {"image": png_b64(), "model": "blip"})


def test_extras_requires_an_image():
    assert "image" in error_of(ExtrasInput, {"upscaler_1": "Lanczos"})
