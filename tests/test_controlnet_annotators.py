"""docker/controlnet-annotators.json (what the image bakes for ControlNet's preprocessors) agrees
with the worker's table of what each preprocessor needs, and docker/fetch_annotators.py fetches
and verifies it (from a local http.server)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from sdworker.controlnet import annotators
from tests.helpers import docker_script, serve_files

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "docker" / "controlnet-annotators.json"
fa = docker_script("fetch_annotators")


def test_every_baked_file_is_one_the_worker_looks_for_with_the_same_url():
    files = json.loads(MANIFEST.read_text())["files"]
    for entry in files:
        folder, name = entry["path"].split("/")
        for module in entry["modules"]:
            needed = {(a.folder, a.file): a.url for a in annotators.WEIGHTS[module]}
            assert needed.get((folder, name)) == entry["url"], (module, entry["path"])
    baked = {tuple(e["path"].split("/")) for e in files}
    # The preprocessors the issue names run offline in the image: all their files are baked.
    for module in ("openpose_full", "depth", "lineart", "lineart_coarse", "hed", "pidinet", "mlsd"):
        assert {(a.folder, a.file) for a in annotators.WEIGHTS[module]} <= baked, module


@pytest.fixture
def served(tmp_path):
    blobs = {"/a.pth": b"annotator a" * 100, "/b.pt": b"annotator b" * 50}
    with serve_files(blobs) as base:
        yield [
            {"path": "x/a.pth", "url": base + "/a.pth", "sha256": _sha256(blobs["/a.pth"])},
            {"path": "y/b.pt", "url": base + "/b.pt", "sha256": _sha256(blobs["/b.pt"])},
        ]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _manifest(tmp_path: Path, files: list) -> Path:
    path = tmp_path / "annotators.json"
    path.write_text(json.dumps({"files": files}))
    return path


def test_fetch_puts_each_file_in_its_folder_and_verify_checks_them(tmp_path, served):
    manifest = _manifest(tmp_path, served)
    dest = tmp_path / "downloads"
    assert fa.main(["fetch", "--manifest", str(manifest), "--dest", str(dest)]) == 0
    assert (dest / "x" / "a.pth").read_bytes().startswith(b"annotator a")
    assert fa.main(["verify", "--manifest", str(manifest), "--root", str(dest)]) == 0
    (dest / "y" / "b.pt").write_bytes(b"tampered")
    assert fa.main(["verify", "--manifest", str(manifest), "--root", str(dest)]) == 1
    (dest / "y" / "b.pt").unlink()
    assert fa.main(["verify", "--manifest", str(manifest), "--root", str(dest)]) == 1


def test_a_wrong_sha256_fails_the_fetch(tmp_path, served):
    served[0]["sha256"] = "0" * 64
    manifest = _manifest(tmp_path, served)
    status = fa.main(["fetch", "--manifest", str(manifest), "--dest", str(tmp_path / "d")])
    assert status == 1 and not (tmp_path / "d" / "x" / "a.pth").exists()


@pytest.mark.parametrize(
    "bad",
    [
        {"path": "../a.pth", "url": "https://h/a", "sha256": "0" * 64},
        {"path": "a.pth", "url": "https://h/a", "sha256": "0" * 64},
        {"path": "x/a.pth", "url": "https://h/a"},
        {"path": "x/a.pth", "url": "ftp://h/a", "sha256": "0" * 64},
    ],
)
def test_a_malformed_manifest_is_refused(tmp_path, bad):
    manifest = _manifest(tmp_path, [bad])
    assert fa.main(["verify", "--manifest", str(manifest), "--root", str(tmp_path)]) == 2


def test_the_real_manifest_loads():
    assert len(fa.load(MANIFEST)) == 9
