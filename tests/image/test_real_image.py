"""The real image check: the Dockerfile built as it is, the real A1111 v1.9.3 inside, run offline.

    IMAGE_CHECK=real scripts/test tests/image/test_real_image.py -s    (all: both image checks)

Builds the `cpu` target of docker-bake.hcl with the real webui stage, from the exact source
archives in SHARED_DIR/a1111/sources (the a1111-sources build context) and PyPI's torch, with a
test model made of the engine directory's random-weight files (tests/engine: the SD1.5
checkpoint and the LoRAs `lcm` and `detail-tweaker`); then runs it with `--network none` and
the SDK's local API inside, and answers the six test_input*.json from the real A1111. The
default (GPU) target is built too (no GPU here to run it). It measures the cold start (container
start -> first job answered; first job / steady job) with A1111's modules compiled in the image,
and again with them removed at start (what every cold start paid before), and prints both.

What differs from `docker buildx bake cpu`, and why (the engine is Debian's docker.io 20.10,
whose built-in Dockerfile frontend is used: the frontend image cannot be pulled here):
- the base image is python:3.10-slim-bookworm's stand-in, tests/image/python310.Dockerfile
  (Docker Hub cannot be reached);
- that engine has no --build-context: the a1111-sources stage comes from an image of the sources
  directory (tests/image/sources.Dockerfile) instead of `contexts`;
- the frontend predates build arguments in RUN --mount options: MODEL_NAME's value is written
  into the models stage's bind mount (as in the stand-in check);
- TORCH_INDEX_URL is PyPI (the PyTorch index cannot be reached); PyPI's torch 2.1.2 is the
  cu121 build, so the cpu image carries CUDA libraries it does not use.

Needs the engine directory (built by `python -m tests.engine.build` if missing), root and
apt-get (scripts/image-engine: a Docker engine of its own, on IMAGE_CHECK_REAL_SOCKET, so that
the stand-in check stopping its engine cannot stop this one), about 30 GB of free disk and
10 GB of memory. A real A1111 runs
under the lock the engine tests take (one at a time on a machine). The images, containers and
build cache it makes are removed at the end (IMAGE_CHECK_KEEP=1 keeps them for a rerun; the
engine is stopped unless IMAGE_CHECK_KEEP_ENGINE=1).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from PIL import Image

from tests.bake import load_bake, resolve
from tests.engine import build as engine_build
from tests.engine.build import engine_lock
from tests.helpers import check_output, decode_png, png_b64
from tests.image.context import DOCKER, copy_repository, run_docker

ROOT = Path(__file__).resolve().parents[2]
DEBIAN_IMAGE = os.environ.get("IMAGE_CHECK_BASE", "sdworker-check/python:bookworm")
PYTHON_IMAGE = "sdworker-check/python:3.10-bookworm"
SOURCES_IMAGE = "sdworker-check/a1111-sources:latest"
TAG = "sdworker-check/real-worker"
MODEL = "realcheck"
PYPI = "https://pypi.org/simple"
LORAS = ("lcm", "detail-tweaker")
CONTROLNET = "control_v11p_sd15_canny"
WEBUI = "/stable-diffusion-webui"
# An engine of its own (scripts/image-engine with another socket and state directory): the
# stand-in check stops its engine when it ends, which must not stop this one mid-build.
SOCKET = os.environ.get("IMAGE_CHECK_REAL_SOCKET", "/tmp/sdworker-docker-real/docker.sock")
ENGINE_STATE = Path(SOCKET).parent
ENGINE_ENV = {
    **os.environ,
    "DOCKER_HOST": f"unix://{SOCKET}",
    "DOCKER_BUILDKIT": "1",
    "IMAGE_CHECK_SOCKET": SOCKET,
}
FIGURES = Path(os.environ.get("IMAGE_CHECK_FIGURES", "/tmp/sdworker-real-image-figures.json"))

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("IMAGE_CHECK") not in ("real", "all"),
        reason="real image check off: IMAGE_CHECK=real (or all, with the stand-in image check) "
        "builds the real image (about 30 GB of disk, 20 minutes) and runs the real A1111 in it",
    ),
    # The first test pays for the engine directory, the base images and both builds.
    pytest.mark.timeout(5400),
]


def say(message: str) -> None:
    print(f"[real image {time.strftime('%H:%M:%S')}] {message}", flush=True)


def docker(*args: str, timeout: float = 900, check: bool = True, **kw):
    return run_docker(ENGINE_ENV, *args, timeout=timeout, check=check, **kw)


def timed_docker(*args: str, timeout: float = 3600) -> float:
    started = time.monotonic()
    docker(*args, timeout=timeout)
    return time.monotonic() - started


def engine_directory() -> Path:
    directory = engine_build.engine_dir()
    if not engine_build.is_built(directory):
        say("building the engine directory (python -m tests.engine.build)")
        subprocess.run([sys.executable, "-m", "tests.engine.build"], cwd=ROOT, check=True)
    assert engine_build.is_built(directory), directory
    return directory


def python310_prefix() -> Path:
    python = engine_build.engine_python()
    prefix = subprocess.run(
        [python, "-c", "import sys; print(sys.base_prefix)"], capture_output=True, text=True
    ).stdout.strip()
    return Path(prefix)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def place(src: Path, dest: Path) -> None:
    """A hard link where it can be (no second 2 GB copy), else a copy."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def make_context(dest: Path, engine: Path) -> None:
    """The repository's files (as git sees them) plus models/realcheck: the engine's weights."""
    copy_repository(dest)
    models = engine / "webui" / "models"
    targets = [f"Stable-diffusion/{engine_build.CHECKPOINT}"]
    targets += [f"Lora/{name}.safetensors" for name in LORAS]
    targets.append(f"ControlNet/{CONTROLNET}.safetensors")  # tests/engine/controlnet_weights.py
    entries = []
    for target in targets:
        place(models / target, dest / "models" / MODEL / target)
        entries.append(
            {
                "target": target,
                "url": "https://example.invalid/random-weights-are-made-not-downloaded",
                "sha256": sha256(models / target),
            }
        )
    manifest = {"name": MODEL, "checkpoint": targets[0], "files": entries}
    (dest / "models" / MODEL / "manifest.json").write_text(json.dumps(manifest, indent=2))
    # The tools stage bakes the engine's random stand-ins (tests/engine/tool_weights.py) in place
    # of the real upscaler, face-restoration and ADetailer weights, which cannot be downloaded.
    tools = []
    for target in TOOL_FILES:
        place(models / target, dest / "models" / "_tools" / target)
        tools.append(
            {
                "target": target,
                "url": "https://example.invalid/random-weights-are-made-not-downloaded",
                "sha256": sha256(models / target),
            }
        )
    manifest = {"name": "tools", "files": tools}
    (dest / "models" / "_tools" / "manifest.json").write_text(json.dumps(manifest, indent=2))


TOOL_FILES = (
    "RealESRGAN/RealESRGAN_x4plus.pth",
    "Codeformer/codeformer-v0.1.0.pth",
    "GFPGAN/GFPGANv1.4.pth",
    "GFPGAN/detection_Resnet50_Final.pth",
    "GFPGAN/parsing_parsenet.pth",
    "adetailer/face_yolov8n.pt",
    "adetailer/face_yolov8n_always.pt",
)


def noise_png(size: int = 32) -> str:
    """Texture, so that R-ESRGAN and Lanczos cannot give the same pixels by chance."""
    buf = io.BytesIO()
    Image.effect_noise((size, size), 60).convert("RGB").save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


_NOISE = noise_png()
# Jobs that need the baked tools, answered offline by the real image.
TOOL_JOBS = {
    "getUpscalers": {"api": "getUpscalers"},
    "getAdetailerModels": {"api": "getAdetailerModels"},
    "r-esrgan": {"api": "extras", "image": _NOISE, "upscaler_1": "R-ESRGAN 4x+"},
    "lanczos": {"api": "extras", "image": _NOISE, "upscaler_1": "Lanczos"},
    "codeformer": {
        "api": "extras",
        "image": _NOISE,
        "upscaling_resize": 1,
        "codeformer_visibility": 1,
    },
    "adetailer": {
        "prompt": "a face",
        "width": 64,
        "height": 64,
        "steps": 1,
        "alwayson_scripts": {
            "ADetailer": {
                "args": [True, False, {"ad_model": "face_yolov8n_always.pt", "ad_mask_k": 1}]
            }
        },
    },
}


def check_dockerfile(text: str) -> str:
    """The release Dockerfile, made buildable by the engine here (see the module docstring)."""
    lines = text.splitlines(keepends=True)
    if lines[0].startswith("# syntax="):
        lines = lines[1:]
    text = "".join(lines)
    for old, new in (
        ("source=models/${MODEL_NAME},", f"source=models/{MODEL},"),
        ("FROM scratch AS a1111-sources", f"FROM {SOURCES_IMAGE} AS a1111-sources"),
    ):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def target_args(target: str) -> list[str]:
    """docker-bake.hcl's build arguments for target, with the test model and PyPI's torch."""
    args = resolve(load_bake(), target)["args"]
    args.update(MODEL_NAME=MODEL, TORCH_INDEX_URL=PYPI, PYTHON_IMAGE=PYTHON_IMAGE)
    # ControlNet's annotator weights come from Hugging Face, which cannot be reached here.
    args.update(BAKE_ANNOTATORS="0")
    return [f"--build-arg={k}={v}" for k, v in args.items()]


def cleanup(tags: list[str]) -> None:
    docker("rmi", "-f", *tags, check=False)
    # Each rerun with IMAGE_CHECK_KEEP=1 moves the tags to new images and leaves the old ones
    # untagged (11 GB each, some layers shared); only the check builds on this engine.
    docker("image", "prune", "-f", check=False, timeout=1800)
    docker("builder", "prune", "-af", check=False, timeout=1800)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """The cpu and the GPU (default) image, built from a clean build cache; their tags."""
    figures: dict = {}
    started = time.monotonic()
    engine = engine_directory()
    figures["engine_directory_s"] = round(time.monotonic() - started, 1)
    engine_script = [str(ROOT / "scripts" / "image-engine")]
    tags = {"cpu": f"{TAG}:cpu", "gpu": f"{TAG}:gpu"}
    context = tmp_path_factory.mktemp("real-context")
    try:
        ready = subprocess.run(engine_script, env=ENGINE_ENV, capture_output=True, text=True)
        assert ready.returncode == 0, ready.stderr
        if os.environ.get("IMAGE_CHECK_KEEP") != "1":
            cleanup(list(tags.values()))
        prefix = python310_prefix()
        say(f"base image {PYTHON_IMAGE}: {DEBIAN_IMAGE} + {prefix}")
        figures["base_image_s"] = round(
            timed_docker(
                "build", "-q", "--network", "host", "-t", PYTHON_IMAGE,
                "-f", str(ROOT / "tests/image/python310.Dockerfile"),
                "--build-arg", f"DEBIAN_IMAGE={DEBIAN_IMAGE}", "--build-arg", f"PREFIX={prefix}",
                str(prefix),
            ),
            1,
        )  # fmt: skip
        sources = engine_build.sources_dir()
        assert sources, "the source archives (SHARED_DIR/a1111/sources) are needed"
        docker(
            "build", "-q", "-t", SOURCES_IMAGE,
            "-f", str(ROOT / "tests/image/sources.Dockerfile"), str(sources),
        )  # fmt: skip
        make_context(context, engine)
        dockerfile = context / "Dockerfile.real-check"
        dockerfile.write_text(check_dockerfile((context / "Dockerfile").read_text()))
        common = ["build", "--network", "host", "-f", str(dockerfile), "--target", "runtime"]
        for name, target in (("cpu", "cpu"), ("gpu", "default")):
            say(f"building the {target} target -> {tags[name]}")
            figures[f"build_{name}_s"] = round(
                timed_docker(*common, *target_args(target), "-t", tags[name], str(context)), 1
            )
        size = docker("image", "inspect", "-f", "{{.Size}}", tags["cpu"]).stdout.strip()
        figures["image_cpu_gb"] = round(int(size) / 1e9, 2)
        disk = subprocess.run(
            ["du", "-sx", "--block-size=1M", str(ENGINE_STATE / "root")],
            capture_output=True,
            text=True,
        ).stdout.split()
        figures["engine_disk_gb"] = round(int(disk[0]) / 1024, 1) if disk else None
        figures["images_total_s"] = round(time.monotonic() - started, 1)
        say(f"built: {json.dumps(figures)}")
        yield tags, figures
    finally:
        # Its hard links would keep the engine directory's 2 GB checkpoint alive.
        shutil.rmtree(context, ignore_errors=True)
        if os.environ.get("IMAGE_CHECK_KEEP") != "1":
            cleanup([*tags.values(), SOURCES_IMAGE])
        if os.environ.get("IMAGE_CHECK_KEEP_ENGINE") != "1":
            subprocess.run([*engine_script, "stop"], env=ENGINE_ENV, check=False)


class RealContainer:
    """The image running with no network; jobs go to the SDK's local API through docker exec."""

    def __init__(self, image: str, *, precompiled: bool = True):
        self.name = f"sdworker-real-{uuid.uuid4().hex[:8]}"
        args = ["run", "-d", "--name", self.name, "--network", "none", "-e", "SERVE_LOCAL_API=1"]
        if not precompiled:
            # What every cold start paid before: A1111's modules without their .pyc files.
            args += ["--entrypoint", "/bin/bash", image, "-c"]
            args += [
                f"find {WEBUI} -name __pycache__ -prune -exec rm -rf {{}} + && "
                "exec /usr/bin/tini -- /app/src/start.sh"
            ]
        else:
            args.append(image)
        self.started = time.monotonic()
        docker(*args)

    def exec(self, *cmd: str, stdin: bytes | None = None, timeout: float = 900):
        return subprocess.run(
            [DOCKER, "exec", "-i", self.name, *cmd],
            env=ENGINE_ENV,
            input=stdin,
            capture_output=True,
            timeout=timeout,
        )

    def logs(self) -> str:
        proc = docker("logs", self.name, check=False)
        return proc.stdout + proc.stderr

    def runsync(self, body: bytes, *, wait: bool = False) -> tuple[dict, float]:
        """The job's answer and how long the request took (curl's time_total)."""
        curl = (
            "curl -s -o /tmp/answer.json -w '%{http_code} %{time_total}' -X POST "
            "-H 'Content-Type: application/json' --data-binary @/tmp/job.json "
            "http://127.0.0.1:8000/runsync"
        )
        # With wait, the request is repeated (every 0.1 s) until the local API answers it:
        # the first job is sent the moment the worker can take it.
        script = "cat > /tmp/job.json && "
        if wait:
            script += f'until out=$({curl}) && [ "${{out%% *}}" = 200 ]; do sleep 0.1; done; '
        else:
            script += f"out=$({curl}); "
        script += 'echo "$out"; cat /tmp/answer.json'
        proc = self.exec("bash", "-c", script, stdin=body)
        assert proc.returncode == 0, proc.stderr
        status, seconds = proc.stdout.decode().split("\n", 1)[0].split()
        assert status == "200", proc.stdout[:2000]
        return json.loads(proc.stdout.decode().split("\n", 1)[1]), float(seconds)

    def remove(self) -> None:
        docker("rm", "-f", self.name, check=False)


def run_container(image: str, *, precompiled: bool, six_inputs: bool) -> dict:
    """One fresh container: container start -> first job answered, first job / steady job;
    then (six_inputs) the six test inputs. The engine lock is held while it runs."""
    job = (ROOT / "test_input.json").read_bytes()
    asked = time.monotonic()
    with engine_lock():
        # Other sessions' real A1111s hold the lock for minutes: the check's wall time less this.
        lock_wait = time.monotonic() - asked
        # Other work on the machine slows a start-up down: the load says how much there was.
        load = float(Path("/proc/loadavg").read_text().split()[0])
        container = RealContainer(image, precompiled=precompiled)
        try:
            answer, first = container.runsync(job, wait=True)
            answered = time.monotonic() - container.started
            assert answer["status"] == "COMPLETED", answer
            steady = [container.runsync(job)[1] for _ in range(3)]
            written = container.exec(
                "find", WEBUI, "-name", "*.pyc", "-newer", "/tmp/webui.pid"
            ).stdout.split()
            tcp = container.exec("cat", "/proc/net/tcp").stdout.decode()
            answers = {}
            if six_inputs:
                for path in sorted(ROOT.glob("test_input*.json")):
                    answers[path.name] = container.runsync(path.read_bytes())[0]
                for name, job_input in CONTROLNET_JOBS.items():
                    body = json.dumps({"input": job_input}).encode()
                    answers[name] = container.runsync(body)[0]
                for name, job in TOOL_JOBS.items():
                    body = json.dumps({"input": job}).encode()
                    answers[f"tools:{name}"] = container.runsync(body)[0]
        finally:
            logs = container.logs()
            container.remove()
    ready = re.search(r"A1111 is ready and warmed up after ([0-9.]+)s", logs)
    startup = re.search(r"Startup time: ([0-9.]+)s(.*)", logs)
    return {
        "figures": {
            "start_to_first_answer_s": round(answered, 2),
            "a1111_ready_and_warm_s": float(ready.group(1)) if ready else None,
            "a1111_startup_time_s": float(startup.group(1)) if startup else None,
            "first_job_s": round(first, 3),
            "steady_job_s": round(statistics.median(steady), 3),
            "first_over_steady": round(first / statistics.median(steady), 2),
            "pyc_written_at_start": len(written),
            "load_1m_before": load,
            "lock_wait_s": round(lock_wait, 1),
            "a1111_startup_breakdown": startup.group(2).strip() if startup else None,
        },
        "tcp": tcp,
        "answers": answers,
        "logs": logs,
    }


@pytest.fixture(scope="module")
def runs(images):
    """The cpu image run ROUNDS times each way, alternately: as built, and without its .pyc
    files (a fresh container each time, one at a time). The first run also answers the six
    test inputs. Figures printed and written to FIGURES."""
    tags, figures = images
    rounds = int(os.environ.get("IMAGE_CHECK_ROUNDS", "3"))
    found: dict[str, list[dict]] = {"compiled": [], "not_compiled": []}
    for round_ in range(rounds):
        for kind in found:
            say(f"cold start {round_ + 1}/{rounds}: {kind}")
            found[kind].append(
                run_container(
                    tags["cpu"],
                    precompiled=kind == "compiled",
                    six_inputs=kind == "compiled" and round_ == 0,
                )
            )
    cold = {}
    for kind, results in found.items():
        each = [r["figures"] for r in results]
        numbers = [k for k in each[0] if all(isinstance(f[k], int | float) for f in each)]
        # The median: a run that other work on the machine slowed down moves it least.
        median = {k: round(statistics.median(f[k] for f in each), 3) for k in numbers}
        mean = {k: round(statistics.mean(f[k] for f in each), 3) for k in numbers}
        cold[kind] = {"runs": each, "median": median, "mean": mean}
    figures["cold_start"] = cold
    waits = [r["figures"]["lock_wait_s"] for results in found.values() for r in results]
    figures["lock_wait_total_s"] = round(sum(waits), 1)
    FIGURES.write_text(json.dumps(figures, indent=2))
    say(f"figures (also in {FIGURES}):\n{json.dumps(figures, indent=2)}")
    return found


# ControlNet in the image, offline: the extension and the baked model listed, a canny unit applied
# (its map apart from the image), a preprocessor whose annotator weights this build left out
# (BAKE_ANNOTATORS=0) refused naming the file.
def _controlnet_job(**unit) -> dict:
    args = [{"module": "canny", "model": CONTROLNET, "image": png_b64(64, 64), **unit}]
    job = {"prompt": "a box", "width": 64, "height": 64, "steps": 1, "seed": 1}
    return {**job, "alwayson_scripts": {"controlnet": {"args": args}}}


CONTROLNET_JOBS = {
    "controlnet_models": {"api": "getControlNetModels"},
    "controlnet_canny": _controlnet_job(),
    "controlnet_openpose": _controlnet_job(module="openpose"),
}


def listening_on(proc_net_tcp: str, port: int) -> list[str]:
    """The local addresses of the sockets listening on port (state 0A in /proc/net/tcp)."""
    found = []
    for line in proc_net_tcp.splitlines()[1:]:
        local, _remote, state = line.split()[1:4]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.append(".".join(str(b) for b in reversed(bytes.fromhex(address))))
    return found


def test_the_real_image_answers_the_six_test_inputs_offline(runs):
    first = runs["compiled"][0]
    six = {n: a for n, a in first["answers"].items() if n.startswith("test_input")}
    assert len(six) == 6, sorted(first["answers"])
    for name, body in six.items():
        assert body["status"] == "COMPLETED", (name, body)
        output = body["output"]
        check_output(name, output)
        job = json.loads((ROOT / name).read_text())["input"]
        if "images" in output:
            image = decode_png(output["images"][0])
            assert image.size == (job["width"], job["height"]), name
        if job.get("api") == "getLoras":
            assert {lora["name"] for lora in output} >= set(LORAS), output
    # The real A1111 answered (its own log lines), with the baked checkpoint.
    assert "Model loaded in" in first["logs"], first["logs"][-3000:]
    assert engine_build.CHECKPOINT in first["logs"]


def test_the_baked_tools_run_offline(runs):
    first = runs["compiled"][0]
    tools = {k.removeprefix("tools:"): v for k, v in first["answers"].items() if k[:6] == "tools:"}
    for name, body in tools.items():
        assert body["status"] == "COMPLETED", (name, body)
    upscalers = {u["name"]: u["installed"] for u in tools["getUpscalers"]["output"]}
    assert upscalers["R-ESRGAN 4x+"] is True and upscalers["R-ESRGAN 4x+ Anime6B"] is False
    assert {"face_yolov8n.pt", "face_yolov8n_always.pt"} <= set(
        tools["getAdetailerModels"]["output"]["ad_model"]
    )
    # R-ESRGAN really ran (not A1111's silent Lanczos fallback), and face restoration loaded.
    esrgan = decode_png(tools["r-esrgan"]["output"]["image"])
    lanczos = decode_png(tools["lanczos"]["output"]["image"])
    assert esrgan.size == lanczos.size and esrgan.tobytes() != lanczos.tobytes()
    logs = first["logs"]
    assert "Unable to load RealESRGAN model" not in logs
    assert "Unable to load face-restoration model" not in logs
    assert "Downloading" not in logs
    # ADetailer found its (forced) detections and ran its inpaint pass.
    assert "ADetailer model: face_yolov8n_always.pt" in str(tools["adetailer"]["output"]["info"])


def test_controlnet_works_offline_in_the_image(runs):
    answers = runs["compiled"][0]["answers"]
    models = answers["controlnet_models"]
    assert models["status"] == "COMPLETED", models
    assert any(m.startswith(CONTROLNET + " [") for m in models["output"]["model_list"]), models
    canny = answers["controlnet_canny"]
    assert canny["status"] == "COMPLETED", canny
    assert len(canny["output"]["images"]) == 1 and len(canny["output"]["controlnet_maps"]) == 1
    openpose = answers["controlnet_openpose"]
    assert openpose["status"] == "FAILED", openpose
    assert "annotator/downloads/openpose/body_pose_model.pth" in openpose["error"]


def test_both_extensions_load_without_errors(runs):
    # A1111 starts even when an extension's scripts fail to import (it logs "*** Error loading
    # script" and a traceback), and ADetailer's jobs would then be skipped without a word.
    for run in runs["compiled"] + runs["not_compiled"]:
        logs = run["logs"]
        assert "ADetailer initialized. version: 25.3.0" in logs, logs[-3000:]
        assert "ControlNet v1.1.455" in logs, logs[-3000:]
        errors = [line for line in logs.splitlines() if "*** Error" in line or "Traceback" in line]
        assert not errors, logs[-6000:]


def test_a1111_listens_on_127_0_0_1_only(runs):
    for run in runs["compiled"] + runs["not_compiled"]:
        assert listening_on(run["tcp"], 3000) == ["127.0.0.1"], run["tcp"]


def test_the_modules_compiled_at_build_time_are_used(runs):
    for run in runs["compiled"]:
        assert run["figures"]["pyc_written_at_start"] == 0, "A1111 recompiled baked modules"
    for run in runs["not_compiled"]:
        # 355 modules (A1111's and both extensions') are imported by an API-only start.
        assert run["figures"]["pyc_written_at_start"] > 200, run["figures"]


def test_the_gpu_image_builds_and_without_a_gpu_says_so(images):
    tags, _ = images
    proc = docker("run", "--rm", "--network", "none", tags["gpu"], check=False, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "GPU" in proc.stdout + proc.stderr
    torch = docker(
        "run", "--rm", "--network", "none", "--entrypoint", "/opt/venv/bin/python", tags["gpu"],
        "-c", "import torch; print(torch.__version__, torch.version.cuda)",
    ).stdout.split()  # fmt: skip
    # PyPI's wheel reports 2.1.2+cu121 or 2.1.2: the CUDA 12.1 build either way.
    assert torch[0].split("+")[0] == "2.1.2" and torch[1] == "12.1", torch
