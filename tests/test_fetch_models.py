"""docker/fetch_models.py: the manifest downloader and checksum verifier used by the Dockerfile.

Downloads come from a local http.server on 127.0.0.1 that can fail on purpose (503s, a body cut
short, redirects), so retries, resuming and the checksum checks run for real.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.helpers import docker_script, safetensors_bytes

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "docker" / "fetch_models.py"

fm = docker_script("fetch_models")

CKPT = b"checkpoint-bytes " * 40_000  # ~680 KB: several read chunks
LORA = b"lora-bytes" * 1000
VAE = b"vae-bytes" * 500


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


UNPINNED = safetensors_bytes()


class Server:
    """Serves `files`; `plan[path]` lists what the next requests get: "ok", an HTTP status
    (e.g. 503), ("cut", n) to send only n bytes of the body, or ("redirect", url)."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.plan: dict[str, list] = {}
        self.requests: list[tuple[str, dict]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                with server.lock:
                    server.requests.append((self.path, dict(self.headers)))
                    steps = server.plan.get(self.path) or []
                    step = steps.pop(0) if steps else "ok"
                if isinstance(step, int):
                    self.send_error(step)
                    return
                if isinstance(step, tuple) and step[0] == "redirect":
                    self.send_response(302)
                    self.send_header("Location", step[1])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes="):
                    start = int(rng[6:].split("-")[0])
                    if start >= len(data):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if isinstance(step, tuple) and step[0] == "cut":
                    self.wfile.write(body[: step[1]])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def hits(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = Server()
    srv.files.update({"/ckpt.safetensors": CKPT, "/lora.safetensors": LORA, "/vae.pt": VAE})
    yield srv
    srv.close()


def entry(target, url, data=None, **extra):
    raw = {"target": target, "url": url}
    if data is not None:
        raw["sha256"] = sha(data)
        raw["size"] = len(data)
    raw.update(extra)
    return raw


def manifest(server, *extra_entries, ckpt_sha=None, **top):
    files = [
        entry("Stable-diffusion/model.safetensors", server.url + "/ckpt.safetensors", CKPT),
        entry("Lora/lcm.safetensors", server.url + "/lora.safetensors", LORA),
        entry("VAE/vae.pt", server.url + "/vae.pt", VAE),
        *extra_entries,
    ]
    if ckpt_sha is not None:
        files[0]["sha256"] = ckpt_sha
        files[0].pop("size")
    data = {"name": "test", "checkpoint": "Stable-diffusion/model.safetensors", "files": files}
    data.update(top)
    return fm.parse_manifest(data)


def run_fetch(m, dest, **kw):
    kw.setdefault("backoff", 0.01)
    kw.setdefault("timeout", 5)
    return fm.fetch(m, dest, **kw)


# ----------------------------------------------------------------------------- good files


def test_good_files_are_downloaded_verified_and_laid_out_for_a1111(server, tmp_path):
    dest = tmp_path / "out"
    report = run_fetch(manifest(server), dest)
    assert (dest / "models/Stable-diffusion/model.safetensors").read_bytes() == CKPT
    assert (dest / "models/Lora/lcm.safetensors").read_bytes() == LORA
    assert (dest / "models/VAE/vae.pt").read_bytes() == VAE
    assert [f["how"] for f in report.files] == ["download"] * 3
    assert (
        dest / "baked-model.txt"
    ).read_text().strip() == "models/Stable-diffusion/model.safetensors"
    baked = json.loads((dest / "baked-model.json").read_text())
    assert baked["checkpoint"] == "models/Stable-diffusion/model.safetensors"
    assert {f["sha256"] for f in baked["files"]} == {sha(CKPT), sha(LORA), sha(VAE)}
    assert not list(dest.rglob("*.part"))


def test_embeddings_go_to_a1111_embeddings_folder(server, tmp_path):
    server.files["/emb.pt"] = b"emb"
    m = manifest(server, entry("embeddings/neg.pt", server.url + "/emb.pt", b"emb"))
    run_fetch(m, tmp_path / "out")
    assert (tmp_path / "out/embeddings/neg.pt").read_bytes() == b"emb"


# ----------------------------------------------------------------------------- corrupted files


def test_a_corrupted_download_is_rejected_and_nothing_is_left(server, tmp_path):
    server.files["/ckpt.safetensors"] = CKPT[:-1] + b"X"  # same size, one byte differs
    dest = tmp_path / "out"
    with pytest.raises(fm.ChecksumError, match="sha256 mismatch"):
        run_fetch(manifest(server), dest)
    assert not (dest / "models/Stable-diffusion/model.safetensors").exists()
    assert not list(dest.rglob("*.part"))
    # A fresh download that does not match is final: no retry loop on a wrong file.
    assert server.hits("/ckpt.safetensors") == 1


def test_a_download_of_the_wrong_size_is_rejected(server, tmp_path):
    server.files["/lora.safetensors"] = LORA + b"extra"
    with pytest.raises(fm.ChecksumError, match="size mismatch"):
        run_fetch(manifest(server), tmp_path / "out")


def test_cli_fails_the_build_on_a_mismatch(server, tmp_path):
    server.files["/vae.pt"] = b"not the vae"
    m = manifest(server)
    path = tmp_path / "manifest.json"
    path.write_text(
        json.dumps(
            {
                "name": m.name,
                "checkpoint": m.checkpoint,
                "files": [
                    {"target": e.target, "url": e.url, "sha256": e.sha256} for e in m.entries
                ],
            }
        )
    )
    args = ["fetch", "--manifest", str(path), "--dest", str(tmp_path / "out"), "--backoff", "0"]
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    assert "FAILED" in proc.stderr and "sha256 mismatch" in proc.stderr
    assert sha(VAE) in proc.stderr  # the expected digest is named


# ----------------------------------------------------------------------------- present files


def test_files_already_present_are_used_as_they_are(server, tmp_path):
    local = tmp_path / "models" / "test"
    (local / "Stable-diffusion").mkdir(parents=True)
    (local / "Stable-diffusion/model.safetensors").write_bytes(CKPT)
    del server.files["/ckpt.safetensors"]  # a download would fail
    report = run_fetch(manifest(server), tmp_path / "out", local_dir=local)
    assert server.hits("/ckpt.safetensors") == 0
    assert (tmp_path / "out/models/Stable-diffusion/model.safetensors").read_bytes() == CKPT
    assert report.files[0]["how"] == "local"


def test_a_present_file_with_the_wrong_checksum_is_rejected(server, tmp_path):
    local = tmp_path / "local"
    (local / "Lora").mkdir(parents=True)
    (local / "Lora/lcm.safetensors").write_bytes(b"x" * len(LORA))
    with pytest.raises(fm.ChecksumError, match="sha256 mismatch"):
        run_fetch(manifest(server), tmp_path / "out", local_dir=local)
    assert server.hits("/lora.safetensors") == 0


def test_unlisted_weight_files_in_the_model_folder_are_copied_as_they_are(server, tmp_path):
    local = tmp_path / "local"
    (local / "Lora").mkdir(parents=True)
    (local / "Lora/my-style.safetensors").write_bytes(b"style")
    (local / "Lora/notes.txt").write_text("not a weight file")
    report = run_fetch(manifest(server), tmp_path / "out", local_dir=local)
    assert (tmp_path / "out/models/Lora/my-style.safetensors").read_bytes() == b"style"
    assert not (tmp_path / "out/models/Lora/notes.txt").exists()
    assert report.files[-1]["how"] == "local-extra"


def test_verified_downloads_are_reused_from_the_cache(server, tmp_path):
    cache = tmp_path / "cache"
    run_fetch(manifest(server), tmp_path / "out1", cache_dir=cache)
    assert (cache / sha(CKPT)).is_file()
    report = run_fetch(manifest(server), tmp_path / "out2", cache_dir=cache)
    assert server.hits("/ckpt.safetensors") == 1
    assert [f["how"] for f in report.files] == ["cache"] * 3
    # A damaged cache entry is dropped and downloaded again.
    (cache / sha(LORA)).write_bytes(b"rot")
    run_fetch(manifest(server), tmp_path / "out3", cache_dir=cache)
    assert server.hits("/lora.safetensors") == 2
    assert (tmp_path / "out3/models/Lora/lcm.safetensors").read_bytes() == LORA


# ----------------------------------------------------------------------------- retries


def test_transient_errors_are_retried(server, tmp_path):
    server.plan["/lora.safetensors"] = [503, 502, "ok"]
    run_fetch(manifest(server), tmp_path / "out", retries=3)
    assert server.hits("/lora.safetensors") == 3
    assert (tmp_path / "out/models/Lora/lcm.safetensors").read_bytes() == LORA


def test_a_cut_transfer_is_resumed_with_a_range_request(server, tmp_path):
    server.plan["/ckpt.safetensors"] = [("cut", 100_000), "ok"]
    run_fetch(manifest(server), tmp_path / "out")
    requests = [h for p, h in server.requests if p == "/ckpt.safetensors"]
    assert len(requests) == 2
    assert "Range" not in requests[0]
    assert requests[1]["Range"] == "bytes=100000-"
    assert (tmp_path / "out/models/Stable-diffusion/model.safetensors").read_bytes() == CKPT


def test_retries_are_bounded(server, tmp_path):
    server.plan["/vae.pt"] = [503] * 10
    with pytest.raises(fm.FetchError, match="after 2 retries: HTTP 503"):
        run_fetch(manifest(server), tmp_path / "out", retries=2)
    assert server.hits("/vae.pt") == 3


def test_a_missing_file_fails_at_once(server, tmp_path):
    del server.files["/vae.pt"]
    with pytest.raises(fm.FetchError, match="HTTP 404"):
        run_fetch(manifest(server), tmp_path / "out", retries=5)
    assert server.hits("/vae.pt") == 1


def test_the_token_goes_to_the_manifest_host_only(server, tmp_path, monkeypatch):
    other = Server()
    try:
        other.files["/real.safetensors"] = LORA
        server.plan["/lora.safetensors"] = [("redirect", other.url + "/real.safetensors")]
        monkeypatch.setenv("TEST_TOKEN", "secret-token")
        m = manifest(server)
        lora = next(e for e in m.entries if e.folder == "Lora")
        entries = tuple(
            fm.Entry(**{**e.__dict__, "auth_env": "TEST_TOKEN"}) if e is lora else e
            for e in m.entries
        )
        run_fetch(fm.Manifest(m.name, m.checkpoint, entries), tmp_path / "out")
        first = next(h for p, h in server.requests if p == "/lora.safetensors")
        assert first["Authorization"] == "Bearer secret-token"
        assert len(other.requests) == 1
        redirected = other.requests[0][1]
        assert "Authorization" not in redirected
    finally:
        other.close()


def test_a_token_can_come_from_a_build_secret_file(tmp_path, monkeypatch):
    monkeypatch.delenv("CIVITAI_TOKEN", raising=False)
    (tmp_path / "CIVITAI_TOKEN").write_text("from-secret\n")
    e = fm.Entry("Lora/x.safetensors", "lora", "https://h/x", "0" * 64, auth_env="CIVITAI_TOKEN")
    assert fm._token(e, tmp_path) == "from-secret"


# ----------------------------------------------------------------------------- manifest rules


def test_an_entry_without_sha256_is_refused_unless_marked(server, tmp_path):
    with pytest.raises(fm.ManifestError, match="no sha256"):
        manifest(server, entry("Lora/x.safetensors", server.url + "/x"))
    with pytest.raises(fm.ManifestError, match="no sha256"):  # the mark needs a reason
        manifest(server, entry("Lora/x.safetensors", server.url + "/x", sha256_unverified=True))
    server.files["/x"] = UNPINNED
    m = manifest(
        server,
        entry(
            "Lora/x.safetensors",
            server.url + "/x",
            sha256_unverified=True,
            unverified_reason="no published checksum",
        ),
    )
    report = run_fetch(m, tmp_path / "out")
    assert report.files[-1]["sha256"] == sha(UNPINNED)
    assert report.files[-1]["verified"] is False
    with pytest.raises(fm.ChecksumError, match="strict mode"):
        run_fetch(m, tmp_path / "strict", strict=True)


def test_unverified_entries_print_the_digest_to_pin(server, tmp_path, capsys):
    server.files["/x"] = UNPINNED
    m = manifest(
        server,
        entry(
            "Lora/x.safetensors", server.url + "/x", sha256_unverified=True, unverified_reason="r"
        ),
    )
    run_fetch(m, tmp_path / "out")
    assert f"UNVERIFIED (r); its sha256 is {sha(UNPINNED)}" in capsys.readouterr().err


def unpinned_entry(server, **extra):
    return entry(
        "Lora/x.safetensors",
        server.url + "/x",
        sha256_unverified=True,
        unverified_reason="only a short hash is published",
        **extra,
    )


def test_a_short_hash_prefix_is_checked_when_no_full_sha256_is_known(server, tmp_path, capsys):
    server.files["/x"] = UNPINNED
    prefix = sha(UNPINNED)[:10]
    m = manifest(server, unpinned_entry(server, sha256_prefix=prefix.upper(), prefix_source="s"))
    report = run_fetch(m, tmp_path / "out")
    assert report.files[-1]["sha256"] == sha(UNPINNED)
    assert f"sha256 starts with {prefix} as expected" in capsys.readouterr().err

    server.files["/x"] = safetensors_bytes(fill=b"\x02")  # another file of the same shape
    with pytest.raises(fm.ChecksumError, match=f"prefix mismatch .* expected {prefix}"):
        run_fetch(m, tmp_path / "other")
    assert not (tmp_path / "other/models/Lora/x.safetensors").exists()


@pytest.mark.parametrize(
    "body, problem",
    [
        (b"<!DOCTYPE html><html>Please log in</html>", "does not fit"),
        (b"\x10\x00\x00\x00\x00\x00\x00\x00<html>not json</html>", "not JSON"),
        (UNPINNED[:-10], "the file has"),  # cut short
        (UNPINNED + b"trailing", "the file has"),
        (b"\x02\x00\x00\x00\x00\x00\x00\x00[]", "not a JSON object"),
        (b"abc", "only 3 bytes"),
    ],
)
def test_an_unpinned_safetensors_download_must_be_a_whole_safetensors_file(
    server, tmp_path, body, problem
):
    server.files["/x"] = body
    m = manifest(server, unpinned_entry(server))
    with pytest.raises(fm.ChecksumError, match=f"not a whole .safetensors file: .*{problem}"):
        run_fetch(m, tmp_path / "out", retries=0)
    assert not (tmp_path / "out/models/Lora/x.safetensors").exists()


def test_the_cli_fails_on_a_prefix_mismatch(server, tmp_path):
    server.files["/x"] = UNPINNED
    path = tmp_path / "manifest.json"
    raw = {
        "name": "test",
        "checkpoint": "Stable-diffusion/model.safetensors",
        "files": [
            entry("Stable-diffusion/model.safetensors", server.url + "/ckpt.safetensors", CKPT),
            unpinned_entry(server, sha256_prefix="0" * 10, prefix_source="s"),
        ],
    }
    path.write_text(json.dumps(raw))
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "fetch",
            "--manifest",
            str(path),
            "--dest",
            str(tmp_path / "out"),
            "--backoff",
            "0.01",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "prefix mismatch" in proc.stderr and "FAILED" in proc.stderr


@pytest.mark.parametrize(
    "change, message",
    [
        ({"target": "Lora/../../etc/passwd"}, "target must be"),
        ({"target": "Unknown/x.safetensors"}, "folder must be one of"),
        ({"target": "Lora/.hidden"}, "unsafe file name"),
        ({"kind": "vae"}, "does not belong"),
        ({"url": "ftp://x/y"}, "http"),
        ({"sha256": "abc"}, "64 hex digits"),
        ({"size": -1}, "positive integer"),
        ({"surprise": 1}, "unknown keys"),
        ({"sha256_unverified": True, "unverified_reason": "x"}, "marked sha256_unverified"),
        ({"sha256_prefix": "1d66b36bd7", "prefix_source": "s"}, "says nothing more"),
        (
            {
                "sha256": None,
                "sha256_unverified": True,
                "unverified_reason": "x",
                "sha256_prefix": "1d66",
                "prefix_source": "s",
            },
            "10 to 63 hex digits",
        ),
        (
            {
                "sha256": None,
                "sha256_unverified": True,
                "unverified_reason": "x",
                "sha256_prefix": "1d66b36bd7",
            },
            "needs a prefix_source",
        ),
    ],
)
def test_malformed_entries_are_refused(server, change, message):
    bad = entry("Lora/extra.safetensors", server.url + "/x", b"x")
    bad.update(change)
    with pytest.raises(fm.ManifestError, match=message):
        manifest(server, bad)


def test_manifest_level_rules(server):
    with pytest.raises(fm.ManifestError, match="duplicate targets"):
        manifest(server, entry("Lora/lcm.safetensors", server.url + "/l", LORA))
    with pytest.raises(fm.ManifestError, match="checkpoint must name"):
        fm.parse_manifest(
            {
                "name": "t",
                "checkpoint": "Lora/lcm.safetensors",
                "files": [entry("Lora/lcm.safetensors", "https://x/l", LORA)],
            }
        )


def test_verify_subcommand_checks_an_installed_tree(server, tmp_path):
    m = manifest(server)
    run_fetch(m, tmp_path / "webui")
    assert fm.verify_tree(m, tmp_path / "webui") == []
    (tmp_path / "webui/models/VAE/vae.pt").write_bytes(b"x" * len(VAE))
    problems = fm.verify_tree(m, tmp_path / "webui")
    assert len(problems) == 1 and "sha256 mismatch" in problems[0]


def test_check_subcommand_accepts_the_project_manifests():
    manifests = sorted(str(p) for p in (ROOT / "models").glob("*/manifest.json"))
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "check", *manifests], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count(": OK,") == len(manifests) >= 2


def test_every_project_checkpoint_is_checked_by_a_sha256_or_at_least_a_prefix():
    for path in sorted((ROOT / "models").glob("*/manifest.json")):
        m = fm.load_manifest(path)
        if m.checkpoint is None:
            continue  # the tools manifest (test below)
        ckpt = m.entry(m.checkpoint)
        assert ckpt.sha256 or ckpt.sha256_prefix, f"{path}: {ckpt.target} is not checked at all"


# ----------------------------------------------------------------------------- tools manifest

TOOL = b"upscaler-weights" * 100
FACE = b"restorer-weights" * 100
BIG = b"interrogator" * 100


def tools_manifest(server) -> fm.Manifest:
    server.files.update({"/tool.pth": TOOL, "/face.pth": FACE, "/big.pth": BIG})
    return fm.parse_manifest(
        {
            "name": "tools",
            "files": [
                entry("RealESRGAN/RealESRGAN_x4plus.pth", server.url + "/tool.pth", TOOL),
                entry("GFPGAN/detection_Resnet50_Final.pth", server.url + "/face.pth", FACE),
                entry("adetailer/face_yolov8n.pt", server.url + "/tool.pth", TOOL),
                entry("BLIP/blip.pth", server.url + "/big.pth", BIG, optional=True),
            ],
        }
    )


def test_a_tools_manifest_lays_out_a1111s_tool_folders_without_a_checkpoint(server, tmp_path):
    dest = tmp_path / "out"
    report = run_fetch(tools_manifest(server), dest)
    assert (dest / "models/RealESRGAN/RealESRGAN_x4plus.pth").read_bytes() == TOOL
    assert (dest / "models/GFPGAN/detection_Resnet50_Final.pth").read_bytes() == FACE
    assert (dest / "models/adetailer/face_yolov8n.pt").read_bytes() == TOOL
    # Large optional entries (the interrogators) only when asked for.
    assert not (dest / "models/BLIP").exists() and server.hits("/big.pth") == 0
    assert len(report.files) == 3
    # Its record does not touch the model's (baked-model.txt names the checkpoint to start).
    assert not (dest / "baked-model.txt").exists() and not (dest / "baked-model.json").exists()
    baked = json.loads((dest / "baked-tools.json").read_text())
    assert {f["path"] for f in baked["files"]} == {
        "models/RealESRGAN/RealESRGAN_x4plus.pth",
        "models/GFPGAN/detection_Resnet50_Final.pth",
        "models/adetailer/face_yolov8n.pt",
    }
    run_fetch(tools_manifest(server), dest, include_optional=True)
    assert (dest / "models/BLIP/blip.pth").read_bytes() == BIG


def test_a_tools_entry_with_the_wrong_checksum_fails(server, tmp_path):
    m = tools_manifest(server)
    server.files["/face.pth"] = b"x" * len(FACE)
    with pytest.raises(fm.ChecksumError, match=r"detection_Resnet50_Final\.pth"):
        run_fetch(m, tmp_path / "out")


def test_tool_kinds_belong_in_their_folders(server):
    bad = entry("RealESRGAN/x.pth", server.url + "/x", b"x", kind="detector")
    with pytest.raises(fm.ManifestError, match="does not belong"):
        fm.parse_manifest({"name": "tools", "files": [bad]})
    # A manifest with a checkpoint entry still has to name it.
    ckpt = entry("Stable-diffusion/m.safetensors", server.url + "/c", b"c")
    with pytest.raises(fm.ManifestError, match="checkpoint must name"):
        fm.parse_manifest({"name": "m", "files": [ckpt]})


def test_the_project_tools_manifest_pins_every_file():
    m = fm.load_manifest(ROOT / "models" / "_tools" / "manifest.json")
    assert m.checkpoint is None
    assert all(e.sha256 and e.url.startswith("https://") for e in m.entries)
    targets = {e.target: e for e in m.entries}
    baked = {t for t, e in targets.items() if not e.optional}
    assert {
        "RealESRGAN/RealESRGAN_x4plus.pth",
        "RealESRGAN/RealESRGAN_x4plus_anime_6B.pth",
        "ESRGAN/ESRGAN_4x.pth",
        "SwinIR/SwinIR_4x.pth",
        "Codeformer/codeformer-v0.1.0.pth",
        "GFPGAN/GFPGANv1.4.pth",
        "GFPGAN/detection_Resnet50_Final.pth",
        "GFPGAN/parsing_parsenet.pth",
        "adetailer/face_yolov8n.pt",
        "adetailer/hand_yolov8n.pt",
        "adetailer/person_yolov8n-seg.pt",
        # what "clip" reads besides its weights (2 MB): BLIP's tokenizer, the category lists
        "bert-base-uncased/vocab.txt",
        "interrogate/artists.txt",
        "interrogate/flavors.txt",
        "interrogate/mediums.txt",
        "interrogate/movements.txt",
    } == baked
    # The interrogators' weights are large: baked only on request (BAKE_INTERROGATORS=1).
    assert {t for t, e in targets.items() if e.optional} == {
        "BLIP/model_base_caption_capfilt_large.pth",
        "clip/ViT-L-14.pt",
        "torch_deepdanbooru/model-resnet_custom_v3.pt",
    }
    vocab = targets["bert-base-uncased/vocab.txt"]
    assert (
        vocab.a1111_path == f"hf-home/hub/models--bert-base-uncased/snapshots/{BERT_REV}/vocab.txt"
    )
    lists = {e.url.rsplit("/", 4)[1] for t, e in targets.items() if t.startswith("interrogate/")}
    assert len(lists) == 1 and re.fullmatch("[0-9a-f]{40}", lists.pop())  # one pinned commit
    # openai CLIP checks ViT-L-14.pt against the sha256 in its own URL.
    clip = targets["clip/ViT-L-14.pt"]
    assert clip.sha256 in clip.url


# ----------------------------------------------------------------------------- interrogators

BERT_REV = "86b5e0934494bd15c9632b12f734a8a67f723594"
VOCAB = b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\n"
ARTISTS = b"an artist\nanother artist\n"


def hub_url(revision: str = BERT_REV, file: str = "vocab.txt") -> str:
    return f"https://huggingface.co/bert-base-uncased/resolve/{revision}/{file}"


def interrogator_files(tmp_path: Path) -> tuple[fm.Manifest, Path]:
    """BLIP's tokenizer and a category list, given in the tools folder (as a build without
    the network has them)."""
    local = tmp_path / "tools"
    (local / "bert-base-uncased").mkdir(parents=True)
    (local / "bert-base-uncased" / "vocab.txt").write_bytes(VOCAB)
    (local / "interrogate").mkdir()
    (local / "interrogate" / "artists.txt").write_bytes(ARTISTS)
    lists = "https://raw.githubusercontent.com/pharmapsychotic/clip-interrogator/x/artists.txt"
    m = fm.parse_manifest(
        {
            "name": "tools",
            "files": [
                entry("bert-base-uncased/vocab.txt", hub_url(), VOCAB),
                entry("interrogate/artists.txt", lists, ARTISTS),
            ],
        }
    )
    return m, local


def test_blips_tokenizer_is_laid_out_as_a_hub_download_and_the_lists_in_interrogate(tmp_path):
    m, local = interrogator_files(tmp_path)
    dest = tmp_path / "out"
    run_fetch(m, dest, local_dir=local)
    cache = dest / "hf-home" / "hub" / "models--bert-base-uncased"
    # transformers, offline, reads refs/main to find the snapshot holding the files.
    assert (cache / "refs" / "main").read_text() == BERT_REV
    assert (cache.parent / "version.txt").read_text() == "1"  # the format transformers writes
    assert (cache / "snapshots" / BERT_REV / "vocab.txt").read_bytes() == VOCAB
    assert (dest / "interrogate" / "artists.txt").read_bytes() == ARTISTS
    assert fm.verify_tree(m, dest) == []
    # In the image the cache is HF_HOME (/opt/hf-home), not under the A1111 folder.
    home = tmp_path / "hf-home"
    problems = fm.verify_tree(m, dest, hf_home=home)
    assert len(problems) == 1 and "vocab.txt: missing" in problems[0]
    (dest / "hf-home").rename(home)
    given = tmp_path / "manifest.json"
    given.write_text(
        json.dumps(
            {"name": "tools", "files": [entry("bert-base-uncased/vocab.txt", hub_url(), VOCAB)]}
        )
    )
    args = ["verify", "--manifest", str(given), "--root", str(dest)]
    assert fm.main([*args, "--hf-home", str(home)]) == 0
    assert fm.main(args) == 1  # looked for in ROOT/hf-home


def test_a_hub_cache_entry_must_pin_one_commit_of_its_repository(server):
    for url in (
        hub_url("main"),  # a branch moves: the snapshot would be named after nothing
        hub_url(file="other.txt"),  # another file than the target's
        f"https://huggingface.co/bert-base-cased/resolve/{BERT_REV}/vocab.txt",
    ):
        bad = entry("bert-base-uncased/vocab.txt", url, VOCAB)
        with pytest.raises(fm.ManifestError, match="40-digit commit"):
            fm.parse_manifest({"name": "tools", "files": [bad]})
    two = [
        entry("bert-base-uncased/vocab.txt", hub_url(), VOCAB),
        entry("bert-base-uncased/config.json", hub_url("1" * 40, "config.json"), b"{}"),
    ]
    with pytest.raises(fm.ManifestError, match="one Hub commit"):
        fm.parse_manifest({"name": "tools", "files": two})
