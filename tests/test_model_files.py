"""sdworker.model_files: whether a tool's files are where A1111 looks, read from a real disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdworker import model_files
from tests.helpers import docker_script

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def webui(tmp_path, monkeypatch):
    """An A1111 directory with everything `interrogate` with "clip" reads, and the flags
    /sdapi/v1/cmd-flags would give for it."""
    data = tmp_path / "webui"
    files = {
        data / "models/BLIP/model_base_caption_capfilt_large.pth": b"blip",
        tmp_path / "clip/ViT-L-14.pt": b"clip",
        tmp_path / "hf/hub/models--bert-base-uncased/snapshots/abc/vocab.txt": b"[PAD]",
        data / "interrogate/flavors.txt": b"flavor",
    }
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    flags = {"data_dir": str(data), "clip_models_path": str(tmp_path / "clip")}
    return files, model_files.interrogator_folders(flags)


def test_clip_interrogation_has_all_it_reads(webui):
    _files, flags = webui
    assert model_files.missing(model_files.INTERROGATORS["clip"], flags) == []


@pytest.mark.parametrize(
    ("index", "named"),
    [
        (0, "model_base_caption_capfilt_large.pth"),
        (1, "ViT-L-14.pt"),
        (2, "vocab.txt"),  # BLIP's bert-base-uncased tokenizer
        (3, "flavors.txt"),  # the category lists
    ],
)
def test_each_missing_file_of_clip_interrogation_is_named_with_its_folder(webui, index, named):
    files, flags = webui
    path = list(files)[index]
    path.unlink()
    lacking = model_files.missing(model_files.INTERROGATORS["clip"], flags)
    assert len(lacking) == 1
    assert named in lacking[0].how_to_add(flags)
    folder = path.parents[2] if index == 2 else path.parent  # the cache: snapshots/<rev>/
    assert str(folder) in lacking[0].how_to_add(flags)


@pytest.mark.parametrize("model", ["clip", "deepdanbooru"])
def test_the_interrogator_files_the_image_lays_out_are_what_the_worker_looks_for(
    tmp_path, monkeypatch, model
):
    """Each interrogator entry of models/_tools/manifest.json put where the image has it (the
    Dockerfile moves models/clip to ~/.cache/clip and hf-home/ to HF_HOME): nothing missing."""
    fm = docker_script("fetch_models")
    tools = fm.load_manifest(ROOT / "models/_tools/manifest.json")
    webui, home, clip = tmp_path / "webui", tmp_path / "hf-home", tmp_path / "cache/clip"
    moved = {"models/clip/": clip, fm.HF_HOME_PREFIX: home}
    for entry in (e for e in tools.entries if e.kind == "interrogator"):
        path = webui / entry.a1111_path
        for prefix, place in moved.items():
            if entry.a1111_path.startswith(prefix):
                path = place / entry.a1111_path.removeprefix(prefix)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    monkeypatch.setenv("HF_HOME", str(home))
    flags = model_files.interrogator_folders(
        {"data_dir": str(webui), "clip_models_path": str(clip)}
    )
    assert model_files.missing(model_files.INTERROGATORS[model], flags) == []
    # and each file counts: without it the worker refuses (any one category list will do)
    named = [p for p in tmp_path.rglob("*") if p.is_file() and p.parent.name != "interrogate"]
    for path in named:
        needed = any(path.name in w.file for w in model_files.INTERROGATORS[model])
        path.rename(path.with_name("aside"))
        assert bool(model_files.missing(model_files.INTERROGATORS[model], flags)) == needed, path
        path.with_name("aside").rename(path)


def test_without_a_clip_models_path_openai_clips_own_cache_is_where_it_looks(tmp_path):
    flags = model_files.interrogator_folders({"data_dir": str(tmp_path), "clip_models_path": None})
    assert flags["clip_models_path"].endswith("/.cache/clip")


def test_status_says_installed_and_what_is_missing(tmp_path):
    (tmp_path / "models/RealESRGAN").mkdir(parents=True)
    (tmp_path / "models/RealESRGAN/RealESRGAN_x4plus.pth").write_bytes(b"x")
    flags = {
        "data_dir": str(tmp_path),
        "realesrgan_models_path": str(tmp_path / "models/RealESRGAN"),
    }
    entries = [
        {"name": "R-ESRGAN 4x+", "model_path": "https://github.com/..."},
        {"name": "R-ESRGAN 4x+ Anime6B", "model_path": "https://github.com/..."},
        {"name": "Lanczos", "model_path": None},
    ]
    shown = model_files.with_status(entries, model_files.upscaler_missing, flags)
    assert [(e["name"], e["installed"]) for e in shown] == [
        ("R-ESRGAN 4x+", True),
        ("R-ESRGAN 4x+ Anime6B", False),
        ("Lanczos", True),
    ]
    assert "RealESRGAN_x4plus_anime_6B.pth" in shown[1]["missing"][0]
    # A1111 on another host: the worker cannot look, and says so.
    far = model_files.with_status(entries, model_files.upscaler_missing, {"data_dir": "/nowhere"})
    assert {e["installed"] for e in far} == {None}
