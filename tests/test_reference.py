"""The README's input reference is the one generated from the input models."""

from pathlib import Path

from sdworker.reference import embedded_in, markdown

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_reference_is_current():
    expected = markdown() + "\n"
    assert embedded_in(README.read_text()) == expected, (
        "README input reference is stale: run `cd src && python -m sdworker.reference "
        "--write ../README.md`"
    )


def test_reference_covers_every_operation_and_field():
    text = markdown()
    for api in ("txt2img", "img2img", "setOptions", "getMemory", "extras", "interrogate"):
        assert f"### `{api}`" in text
    assert "| `init_images` **(required)** |" in text
    assert "Sampling steps, 1..150" in text
