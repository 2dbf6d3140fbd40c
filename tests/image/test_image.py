"""The image check: the real Dockerfile built by a real Docker engine (BuildKit), then run with
no network at all, with A1111 replaced by the project's stand-in.

What differs from a release build, and why:
- the `webui` stage (A1111, torch, the five repositories, the CLIP files) is replaced by the
  stand-in A1111 behind a launch.py (tests/image/launch.py), since GitHub, the PyTorch index and
  Hugging Face cannot be reached here; every other stage is built from the Dockerfile as it is;
- the base image is made with debootstrap (Debian bookworm, Python 3.11) because Docker Hub
  cannot be reached (scripts/image-engine); the Dockerfile takes it through PYTHON_IMAGE;
- the model is a small test model (models/imagecheck/, made in the build context here) whose
  checkpoint is downloaded from a server on 127.0.0.1 during the build and sha256-checked;
- the `# syntax=` line is dropped: the engine's built-in Dockerfile frontend is used, since the
  frontend image cannot be pulled. That frontend predates Dockerfile 1.3, the first to expand
  build arguments in RUN --mount options, so the check writes MODEL_NAME's value into the
  models stage's bind mount itself.

Runs when IMAGE_CHECK=1 or all (scripts/test sets 1 under CI); otherwise skipped with that
reason. The real image, with the real A1111 inside, is tests/image/test_real_image.py
(IMAGE_CHECK=real). The engine is stopped afterwards unless IMAGE_CHECK_KEEP_ENGINE=1; its
images and build cache stay.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import threading
import time
import uuid
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.bake import load_bake, resolve
from tests.helpers import check_output, png_b64, safetensors_bytes
from tests.image.context import DOCKER, copy_repository, run_docker

ROOT = Path(__file__).resolve().parents[2]
SOCKET = os.environ.get("IMAGE_CHECK_SOCKET", "/tmp/sdworker-docker/docker.sock")
BASE_IMAGE = os.environ.get("IMAGE_CHECK_BASE", "sdworker-check/python:bookworm")
TAG = "sdworker-check/worker"
STANDIN_SRC = "sdworker-check/standin-src:latest"
MODEL = "imagecheck"
CKPT_NAME = "imagecheck.safetensors"
START_TIMEOUT = 120
ANNOTATOR = b"stand-in annotator weights " * 64
ANNOTATOR_PATH = "openpose/body_pose_model.pth"
ANNOTATOR_DIR = "/stable-diffusion-webui/extensions/sd-webui-controlnet/annotator/downloads"
ENGINE_ENV = {**os.environ, "DOCKER_HOST": f"unix://{SOCKET}", "DOCKER_BUILDKIT": "1"}

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("IMAGE_CHECK") not in ("1", "all"),
        reason="image check off: IMAGE_CHECK=1 (or all, with the real image check) builds and "
        "runs the image with a local Docker engine (scripts/image-engine readies one)",
    ),
    # The first test also pays for readying the engine and building: minutes on a new machine.
    pytest.mark.timeout(1200),
]

# Replaces the Dockerfile's webui stage: the same paths (/opt/venv, /opt/hf-home,
# /stable-diffusion-webui), the stand-in A1111 inside.
STANDIN_WEBUI_STAGE = f"""FROM base AS webui
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir Pillow && \\
    mkdir -p /opt/hf-home /stable-diffusion-webui/models/Stable-diffusion
COPY --from={STANDIN_SRC} /a1111_standin /stable-diffusion-webui/a1111_standin
COPY --from={STANDIN_SRC} /launch.py /stable-diffusion-webui/launch.py

"""


# Unique to this run, so that the build's download cache cannot answer for it.
CKPT = safetensors_bytes(4096, b"\x07", run=uuid.uuid4().hex)
LORA = safetensors_bytes(512, b"\x03")
EXTRA_EMBEDDING = b"an unlisted embedding, copied as it is"
# The tools stage (models/_tools): its files are given in the context, as a build without
# network has them; the optional (interrogator) entry is not baked without BAKE_INTERROGATORS=1.
UPSCALER = b"an R-ESRGAN stand-in"
DETECTOR = b"an ADetailer detector stand-in"
# The interrogators' files: BLIP from the server (optional, so only in the image built with
# BAKE_INTERROGATORS=1: the GPU one here); BLIP's tokenizer and a category list, baked in every
# image, given in the context.
BLIP = b"a BLIP stand-in"
BERT_REV = "86b5e0934494bd15c9632b12f734a8a67f723594"
VOCAB = b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n"
ARTISTS = b"an artist\n"
HF_CACHE = "/opt/hf-home/hub/models--bert-base-uncased"


def docker(*args: str, timeout: float = 900, check: bool = True, **kw):
    return run_docker(ENGINE_ENV, *args, timeout=timeout, check=check, **kw)


def check_dockerfile(text: str) -> str:
    """The release Dockerfile with the webui stage swapped for the stand-in's (see above)."""
    lines = text.splitlines(keepends=True)
    if lines[0].startswith("# syntax="):
        lines = lines[1:]
    text = "".join(lines)
    mount = "source=models/${MODEL_NAME},"
    assert mount in text
    text = text.replace(mount, f"source=models/{MODEL},")
    start = text.index("FROM base AS webui")
    end = text.index("FROM ${PYTHON_IMAGE} AS models")
    end = text.rindex("# ----", start, end)
    return text[:start] + STANDIN_WEBUI_STAGE + text[end:]


def make_context(dest: Path, ckpt_url: str) -> None:
    """The repository's files (as git sees them, uncommitted work included) plus a test model."""
    copy_repository(dest)
    model = dest / "models" / MODEL
    (model / "Lora").mkdir(parents=True)
    (model / "embeddings").mkdir()
    (model / "Lora" / "present.safetensors").write_bytes(LORA)
    (model / "embeddings" / "extra.pt").write_bytes(EXTRA_EMBEDDING)
    manifest = {
        "name": MODEL,
        "checkpoint": f"Stable-diffusion/{CKPT_NAME}",
        "files": [
            {
                "target": f"Stable-diffusion/{CKPT_NAME}",
                "url": ckpt_url,
                "sha256": hashlib.sha256(CKPT).hexdigest(),
                "size": len(CKPT),
            },
            {
                "target": "Lora/present.safetensors",
                "url": "https://example.invalid/never-downloaded",
                "sha256": hashlib.sha256(LORA).hexdigest(),
            },
        ],
    }
    (model / "manifest.json").write_text(json.dumps(manifest))
    # The annotators stage fetches (from the server here) and verifies ControlNet's files.
    annotators = {
        "files": [
            {
                "path": ANNOTATOR_PATH,
                "url": ckpt_url.rsplit("/", 1)[0] + "/annotator.pth",
                "sha256": hashlib.sha256(ANNOTATOR).hexdigest(),
                "size": len(ANNOTATOR),
            }
        ]
    }
    (dest / "docker" / "controlnet-annotators.json").write_text(json.dumps(annotators))
    make_tools(dest / "models" / "_tools", ckpt_url.rsplit("/", 1)[0] + "/blip.pth")


def make_tools(tools: Path, blip_url: str) -> None:
    never = "https://example.invalid/never-downloaded"
    files = {
        "RealESRGAN/RealESRGAN_x4plus.pth": (UPSCALER, never, False),
        "adetailer/face_yolov8n.pt": (DETECTOR, never, False),
        "bert-base-uncased/vocab.txt": (
            VOCAB,
            f"https://huggingface.co/bert-base-uncased/resolve/{BERT_REV}/vocab.txt",
            False,
        ),
        "interrogate/artists.txt": (ARTISTS, never, False),
    }
    entries = []
    for target, (data, url, optional) in files.items():
        (tools / target).parent.mkdir(parents=True, exist_ok=True)
        (tools / target).write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        entries.append({"target": target, "url": url, "sha256": digest, "optional": optional})
    entries.append(
        {
            "target": "BLIP/model_base_caption_capfilt_large.pth",
            "url": blip_url,
            "sha256": hashlib.sha256(BLIP).hexdigest(),
            "optional": True,
        }
    )
    (tools / "manifest.json").write_text(json.dumps({"name": "tools", "files": entries}))


def cpu_target_args() -> dict[str, str]:
    """The build arguments of docker-bake.hcl's cpu target, but the model and torch index."""
    args = resolve(load_bake(), "cpu")["args"]
    return {k: v for k, v in args.items() if k not in ("MODEL_NAME", "TORCH_INDEX_URL")}


class QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Builds the cpu and the GPU image; returns their tags."""
    engine = [str(ROOT / "scripts" / "image-engine")]
    ready = subprocess.run(engine, capture_output=True, text=True)
    assert ready.returncode == 0, ready.stderr
    served = tmp_path_factory.mktemp("served")
    (served / "ckpt.safetensors").write_bytes(CKPT)
    (served / "annotator.pth").write_bytes(ANNOTATOR)
    (served / "blip.pth").write_bytes(BLIP)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietFiles, directory=str(served)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        context = tmp_path_factory.mktemp("context")
        make_context(context, f"http://127.0.0.1:{httpd.server_address[1]}/ckpt.safetensors")
        dockerfile = context / "Dockerfile.image-check"
        dockerfile.write_text(check_dockerfile((context / "Dockerfile").read_text()))
        docker(
            "build", "-q", "-t", STANDIN_SRC, "-f", str(ROOT / "tests/image/standin.Dockerfile"),
            str(ROOT / "tests"),
        )  # fmt: skip
        common = ["--network", "host", "-f", str(dockerfile), "--target", "runtime"]
        common += [
            "--build-arg",
            f"PYTHON_IMAGE={BASE_IMAGE}",
            "--build-arg",
            f"MODEL_NAME={MODEL}",
        ]
        tags = {"gpu": f"{TAG}:gpu", "cpu": f"{TAG}:cpu"}
        interrogators = ["--build-arg", "BAKE_INTERROGATORS=1"]
        docker("build", *common, *interrogators, "-t", tags["gpu"], str(context))
        cpu_args = [f"--build-arg={k}={v}" for k, v in cpu_target_args().items()]
        docker("build", *common, *cpu_args, "-t", tags["cpu"], str(context))
        yield tags
    finally:
        httpd.shutdown()
        if os.environ.get("IMAGE_CHECK_KEEP_ENGINE") != "1":
            subprocess.run([*engine, "stop"], check=False)


class Container:
    def __init__(self, image: str, *env: str, volume: Path | None = None):
        self.name = f"sdworker-check-{uuid.uuid4().hex[:8]}"
        args = ["run", "-d", "--name", self.name, "--network", "none"]
        for item in env:
            args += ["-e", item]
        if volume is not None:
            args += ["-v", f"{volume}:/runpod-volume:ro"]
        docker(*args, image)

    def logs(self) -> str:
        proc = docker("logs", self.name, check=False)
        return proc.stdout + proc.stderr

    def exec(self, *cmd: str, stdin: bytes | None = None, timeout: float = 120):
        return subprocess.run(
            [DOCKER, "exec", "-i", self.name, *cmd],
            env=ENGINE_ENV,
            input=stdin,
            capture_output=True,
            timeout=timeout,
        )

    def runsync(self, body: bytes) -> dict:
        proc = self.exec(
            "curl", "-s", "-X", "POST", "-H", "Content-Type: application/json",
            "--data-binary", "@-", "http://127.0.0.1:8000/runsync", stdin=body,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    def wait_for(self, text: str, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.logs():
                return
            state = docker("inspect", "-f", "{{.State.Running}}", self.name).stdout.strip()
            assert state == "true", f"the container stopped:\n{self.logs()}"
            time.sleep(0.5)
        raise AssertionError(f"{text!r} not seen within {timeout} s:\n{self.logs()}")

    def remove(self) -> None:
        docker("rm", "-f", self.name, check=False)


@pytest.fixture(scope="module")
def worker(images):
    """The cpu image running with no network, serving the SDK's local API inside."""
    container = Container(images["cpu"], "SERVE_LOCAL_API=1")
    try:
        container.wait_for("Uvicorn running on")
        yield container
    finally:
        print(container.logs()[-4000:])
        container.remove()


def test_the_image_starts_offline_and_answers_the_six_test_inputs(worker):
    inputs = sorted(ROOT.glob("test_input*.json"))
    assert len(inputs) == 6
    for path in inputs:
        body = worker.runsync(path.read_bytes())
        assert body["status"] == "COMPLETED", (path.name, body)
        check_output(path.name, body["output"])


def test_start_sh_launched_a1111_as_the_issue_asks(worker):
    record = json.loads(worker.exec("cat", "/tmp/launch.json").stdout)
    argv = record["argv"]
    joined = " ".join(argv)
    for flag in (
        "--nowebui --api --port 3000 --server-name 127.0.0.1",
        "--skip-prepare-environment",
        "--no-download-sd-model",
        "--no-hashing",
        "--opt-sdp-attention",
        f"--ckpt /stable-diffusion-webui/models/Stable-diffusion/{CKPT_NAME}",
        cpu_target_args()["WEBUI_DEVICE_ARGS"],
    ):
        assert flag in joined, (flag, argv)
    assert record["ckpt_size"] == len(CKPT)
    assert record["cwd"] == "/stable-diffusion-webui"
    assert record["python"] == "/opt/venv/bin/python"
    env = record["env"]
    assert env["HF_HUB_OFFLINE"] == "1" and env["TRANSFORMERS_OFFLINE"] == "1"
    assert env["HF_HOME"] == "/opt/hf-home" and env["PYTHONUNBUFFERED"] == "1"
    assert re.search(r"libtcmalloc_minimal\.so\.4", env["LD_PRELOAD"] or ""), env


def test_the_warm_up_ran_before_the_handler_took_jobs(worker):
    logs = worker.logs()
    # The handler started with A1111 and waited at the start gate until the warm-up was done.
    assert logs.index("starting the handler") < logs.index("A1111 is ready and warmed up")
    assert logs.index("A1111 is ready and warmed up") < logs.index("Starting Serverless Worker")
    stats = json.loads(worker.exec("curl", "-s", "http://127.0.0.1:3000/__standin__/stats").stdout)
    first = next(p for p in stats["payloads"] if p["path"] == "/sdapi/v1/txt2img")
    assert first["body"]["prompt"] == "warm-up"
    assert (first["body"]["width"], first["body"]["height"], first["body"]["steps"]) == (64, 64, 1)


def test_the_models_stage_downloaded_checked_and_laid_out_the_files(worker):
    baked = json.loads(worker.exec("cat", "/stable-diffusion-webui/baked-model.json").stdout)
    how = {f["path"]: (f["how"], f["verified"]) for f in baked["files"]}
    assert how == {
        f"models/Stable-diffusion/{CKPT_NAME}": ("download", True),
        "models/Lora/present.safetensors": ("local", True),
        "embeddings/extra.pt": ("local-extra", False),
    }
    listing = worker.exec(
        "sha256sum",
        f"/stable-diffusion-webui/models/Stable-diffusion/{CKPT_NAME}",
        "/stable-diffusion-webui/models/Lora/present.safetensors",
        "/stable-diffusion-webui/embeddings/extra.pt",
    )
    digests = [line.split()[0] for line in listing.stdout.decode().splitlines()]
    expected = [hashlib.sha256(b).hexdigest() for b in (CKPT, LORA, EXTRA_EMBEDDING)]
    assert digests == expected
    baked = worker.exec("cat", "/stable-diffusion-webui/baked-model.txt").stdout.decode()
    assert baked.strip() == f"models/Stable-diffusion/{CKPT_NAME}"


def test_the_tools_stage_baked_its_files_where_a1111_and_adetailer_look(worker):
    record = worker.exec("cat", "/stable-diffusion-webui/baked-tools.json").stdout
    baked = {f["path"]: f["how"] for f in json.loads(record)["files"]}
    assert baked == {
        "models/RealESRGAN/RealESRGAN_x4plus.pth": "local",
        "models/adetailer/face_yolov8n.pt": "local",
        f"hf-home/hub/models--bert-base-uncased/snapshots/{BERT_REV}/vocab.txt": "local",
        "interrogate/artists.txt": "local",
    }
    listing = worker.exec(
        "sha256sum",
        "/stable-diffusion-webui/models/RealESRGAN/RealESRGAN_x4plus.pth",
        "/stable-diffusion-webui/models/adetailer/face_yolov8n.pt",
    )
    digests = [line.split()[0] for line in listing.stdout.decode().splitlines()]
    assert digests == [hashlib.sha256(b).hexdigest() for b in (UPSCALER, DETECTOR)]
    # Built without BAKE_INTERROGATORS=1: the optional BLIP file that was not given is not here.
    assert worker.exec("test", "-e", "/stable-diffusion-webui/models/BLIP").returncode != 0
    # The model's own record is untouched by the tools stage.
    assert worker.exec("test", "-f", "/stable-diffusion-webui/baked-model.txt").returncode == 0
    # ...and the A1111 script that keeps torch's thread count is in A1111's scripts folder.
    script = "/stable-diffusion-webui/scripts/sdworker_torch_threads.py"
    assert worker.exec("test", "-f", script).returncode == 0


def test_blips_tokenizer_is_in_the_hugging_face_cache_and_the_worker_finds_it(worker):
    assert worker.exec("cat", f"{HF_CACHE}/refs/main").stdout.decode() == BERT_REV
    vocab = worker.exec("cat", f"{HF_CACHE}/snapshots/{BERT_REV}/vocab.txt").stdout
    assert vocab == VOCAB
    lists = worker.exec("cat", "/stable-diffusion-webui/interrogate/artists.txt").stdout
    assert lists == ARTISTS
    # The worker looks where A1111 does (HF_HOME, its working folder): only the weights lack.
    job = {"input": {"api": "interrogate", "image": png_b64(16, 16), "model": "clip"}}
    body = worker.runsync(json.dumps(job).encode())
    assert body["status"] == "FAILED", body
    error = body["error"]
    assert "model_base_caption_capfilt_large.pth" in error and "ViT-L-14.pt" in error
    assert "vocab.txt" not in error and "artists.txt" not in error


def test_the_image_built_with_bake_interrogators_has_the_interrogators(images):
    blip = "/stable-diffusion-webui/models/BLIP/model_base_caption_capfilt_large.pth"
    listing = docker(
        "run", "--rm", "--network", "none", "--entrypoint", "sha256sum", images["gpu"], blip,
        f"{HF_CACHE}/snapshots/{BERT_REV}/vocab.txt",
    )  # fmt: skip
    digests = [line.split()[0] for line in listing.stdout.splitlines()]
    assert digests == [hashlib.sha256(b).hexdigest() for b in (BLIP, VOCAB)]


def test_the_annotators_stage_fetched_checked_and_placed_controlnets_files(worker):
    listing = worker.exec("sha256sum", f"{ANNOTATOR_DIR}/{ANNOTATOR_PATH}")
    assert listing.stdout.decode().split()[0] == hashlib.sha256(ANNOTATOR).hexdigest()


def test_a1111_killed_inside_the_image_fails_the_next_job_fast(images):
    container = Container(images["cpu"], "SERVE_LOCAL_API=1")
    try:
        container.wait_for("Uvicorn running on")
        killed = container.exec("pkill", "-KILL", "-f", "launch.py")
        assert killed.returncode == 0, killed.stderr
        container.wait_for("EXITED with status 137", timeout=10)
        asked = time.monotonic()
        body = container.runsync(json.dumps({"input": {"prompt": "x", "steps": 1}}).encode())
        assert time.monotonic() - asked < 10
        assert body["status"] == "FAILED" and "A1111" in body["error"], body
    finally:
        container.remove()


def test_network_volume_models_are_linked_beside_the_baked_ones(images, tmp_path):
    volume = tmp_path / "volume"
    for folder in ("checkpoints", "Lora", "VAE", "embeddings"):
        (volume / "models" / folder).mkdir(parents=True)
        (volume / "models" / folder / f"{folder}.safetensors").write_bytes(LORA)
    container = Container(images["cpu"], "SERVE_LOCAL_API=1", volume=volume)
    try:
        container.wait_for("Uvicorn running on")
        for link, folder in {
            "models/Stable-diffusion/runpod-volume-checkpoints": "checkpoints",
            "models/Lora/runpod-volume": "Lora",
            "models/VAE/runpod-volume": "VAE",
            "embeddings/runpod-volume": "embeddings",
        }.items():
            found = container.exec("cat", f"/stable-diffusion-webui/{link}/{folder}.safetensors")
            assert found.stdout == LORA, (link, found.stderr)
        record = json.loads(container.exec("cat", "/tmp/launch.json").stdout)
        assert f"/stable-diffusion-webui/models/Stable-diffusion/{CKPT_NAME}" in record["argv"]
    finally:
        container.remove()


def test_the_gpu_image_without_a_gpu_stops_with_a_clear_message(images):
    proc = docker("run", "--rm", "--network", "none", images["gpu"], check=False, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "GPU" in proc.stdout + proc.stderr
