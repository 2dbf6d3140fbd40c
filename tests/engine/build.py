"""Builds, once, a directory holding a real, unmodified A1111 v1.9.3 that runs on this machine.

    python -m tests.engine.build [--print-dir] [--force]

The directory (A1111_ENGINE_DIR, else ~/.cache/sdworker/a1111-<key>) holds:
  webui/      A1111 v1.9.3 with its five repositories at the commits it pins
  venv/       Python 3.10 with torch 2.1.2 and A1111's requirements, pinned by constraints.txt
  hf-home/    the openai/clip-vit-large-patch14 tokenizer and config, made offline
  webui/extensions/  sd-webui-controlnet and adetailer, as the image has them, their PyPI
              dependencies in venv/ (docker/requirements-extensions.txt, pinned)
  webui/models/Stable-diffusion/random-sd15.safetensors and webui/models/Lora/{lcm,detail-tweaker}
              random weights in the real layouts (tests/engine/weights.py)
  more random weights from the makers in EXTRA_WEIGHTS, each re-run when it changes

<key> is a digest of everything the build reads from this project, so a machine that keeps
~/.cache reuses a build until one of its inputs changes. Sources come from SHARED_DIR's
a1111/sources when present, otherwise from GitHub at the same commits; either way each archive
must carry the commit it claims (git get-tar-commit-id). Only stdlib: it runs before any venv.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent.parent
CONSTRAINTS = HERE / "constraints.txt"
EXTENSION_REQUIREMENTS = PROJECT / "docker" / "requirements-extensions.txt"
EXTENSION_CONSTRAINTS = PROJECT / "docker" / "constraints-extensions.txt"
WEIGHTS = HERE / "weights.py"
TOKENIZER = PROJECT / "docker" / "clip_tokenizer.py"
READY_MARK = "engine-ready"
# Bump when the steps below change what they build.
BUILD_STEPS = 1
CHECKPOINT = "random-sd15.safetensors"
LORAS = ("lcm", "detail-tweaker")
# pip and setuptools as old as A1111 1.9.3 expects: CLIP's setup.py imports pkg_resources.
BOOTSTRAP = ("pip<24.1", "setuptools<70", "wheel")
TORCH = ("torch==2.1.2", "torchvision==0.16.2")


@dataclass(frozen=True)
class Source:
    archive: str  # file name in SHARED_DIR/a1111/sources
    repo: str  # GitHub owner/name (the fallback download)
    commit: str
    dest: str  # where it goes, relative to webui/ ("" = the root)


SOURCES = (
    Source(
        "stable-diffusion-webui-v1.9.3.tar.gz",
        "AUTOMATIC1111/stable-diffusion-webui",
        "1c0a0c4c26f78c32095ebc7f8af82f5c04fca8c0",
        "",
    ),
    Source(
        "stable-diffusion-stability-ai-cf1d67a6fd.tar.gz",
        # Stability-AI/stablediffusion was removed from GitHub; this mirror holds the commit.
        "w-e-w/stablediffusion",
        "cf1d67a6fd5ea1aa600c4df58e5b47da45f6bdbf",
        "repositories/stable-diffusion-stability-ai",
    ),
    Source(
        "generative-models-45c443b316.tar.gz",
        "Stability-AI/generative-models",
        "45c443b316737a4ab6e40413d7794a7f5657c19f",
        "repositories/generative-models",
    ),
    Source(
        "k-diffusion-ab527a9a6d.tar.gz",
        "crowsonkb/k-diffusion",
        "ab527a9a6d347f364e3d185ba6d714e22d80cb3c",
        "repositories/k-diffusion",
    ),
    Source(
        "BLIP-48211a1594.tar.gz",
        "salesforce/BLIP",
        "48211a1594f1321b00f14c9f7a5b4813144b2fb9",
        "repositories/BLIP",
    ),
    Source(
        "stable-diffusion-webui-assets-6f7db241d2.tar.gz",
        "AUTOMATIC1111/stable-diffusion-webui-assets",
        "6f7db241d2f8ba7457bac5ca9753331f0c266917",
        "repositories/stable-diffusion-webui-assets",
    ),
)
CLIP = Source(
    "CLIP-d50d76daa6.tar.gz", "openai/CLIP", "d50d76daa670286dd6cacf3bcd80b5e4823fc8e1", "pip"
)
EXTENSIONS = (
    Source(
        "sd-webui-controlnet-56cec5b295.tar.gz",
        "Mikubill/sd-webui-controlnet",
        "56cec5b2958edf3b1807b7e7b2b1b5186dbd2f81",
        "extensions/sd-webui-controlnet",
    ),
    Source(
        "adetailer-v25.3.0.tar.gz",
        "Bing-su/adetailer",
        "36189cbea735b85fd01e98ac42002b8ce6f0e41d",
        "extensions/adetailer",
    ),
)
# The one conflict `pip check` reports with the extensions in (docker/requirements-extensions.txt).
KNOWN_CONFLICT = "open-clip-torch 2.20.0 has requirement protobuf<4"
# Scripts that add random weights to a built engine, run with its venv's Python as
# `MAKER --webui WEBUI --hf-home HF_HOME`: each runs again when its file changes, without a rebuild.
EXTRA_WEIGHTS: tuple[Path, ...] = (
    HERE / "controlnet_weights.py",
    # Upscaler, face-restoration and ADetailer stand-ins (issue 15).
    HERE / "tool_weights.py",
)


def say(message: str) -> None:
    print(f"[engine {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(*cmd: str | Path, **kwargs) -> None:
    say("$ " + " ".join(str(c) for c in cmd))
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)


# --------------------------------------------------------------------------- where, and which


def sources_dir() -> Path | None:
    shared = Path(os.environ.get("SHARED_DIR", PROJECT.parent / "shared"))
    found = shared / "a1111" / "sources"
    return found if found.is_dir() else None


def engine_python() -> str:
    """Python 3.10, as A1111 1.9.3 wants: ENGINE_PYTHON, pyenv's 3.10, or python3.10."""
    candidates = [os.environ.get("ENGINE_PYTHON", "")]
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True).stdout.strip()
        candidates += sorted(Path(root, "versions").glob("3.10.*/bin/python3.10"), reverse=True)
    candidates.append(shutil.which("python3.10") or "")
    for candidate in map(str, candidates):
        if candidate and Path(candidate).exists():
            return candidate
    sys.exit("engine: Python 3.10 is needed (set ENGINE_PYTHON, or install it with pyenv)")


def build_key() -> str:
    """A digest of what the build is made of (not of this file's wording)."""
    parts = (BUILD_STEPS, SOURCES, CLIP, EXTENSIONS, BOOTSTRAP, TORCH)
    digest = hashlib.sha256(repr(parts).encode())
    for path in (CONSTRAINTS, EXTENSION_REQUIREMENTS, EXTENSION_CONSTRAINTS, WEIGHTS, TOKENIZER):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sdworker"


def engine_dir() -> Path:
    configured = os.environ.get("A1111_ENGINE_DIR")
    return Path(configured) if configured else cache_root() / f"a1111-{build_key()}"


@contextlib.contextmanager
def engine_lock() -> Iterator[None]:
    """Held while a real A1111 runs, or anything as large (about 9 GB): one at a time."""
    path = cache_root() / "engine.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for {path}: another real A1111 is running")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def is_built(directory: Path) -> bool:
    return (directory / READY_MARK).exists()


# --------------------------------------------------------------------------- sources


def fetch_archive(source: Source, downloads: Path) -> tuple[Path, int]:
    """The archive and how many leading path parts to strip (GitHub adds a top folder)."""
    local = sources_dir()
    if local and (local / source.archive).exists():
        return local / source.archive, 0
    url = f"https://github.com/{source.repo}/archive/{source.commit}.tar.gz"
    target = downloads / source.archive
    say(f"downloading {url}")
    with urllib.request.urlopen(url, timeout=120) as response, target.open("wb") as out:
        shutil.copyfileobj(response, out)
    return target, 1


def archive_commit(archive: Path) -> str:
    with archive.open("rb") as raw:
        unzipped = subprocess.run(["gzip", "-dc"], stdin=raw, capture_output=True, check=True)
    found = subprocess.run(
        ["git", "get-tar-commit-id"], input=unzipped.stdout, capture_output=True, check=False
    )
    return found.stdout.decode().strip()


def unpack(source: Source, dest: Path, downloads: Path) -> None:
    archive, strip = fetch_archive(source, downloads)
    commit = archive_commit(archive)
    if commit != source.commit:
        sys.exit(f"engine: {archive} holds commit {commit or '(none)'}, not {source.commit}")
    dest.mkdir(parents=True, exist_ok=True)
    say(f"unpacking {source.repo}@{source.commit[:10]} into {dest}")
    run("tar", "-xzf", archive, "-C", dest, f"--strip-components={strip}")


# --------------------------------------------------------------------------- steps


def make_venv(root: Path, webui: Path, downloads: Path) -> Path:
    venv = root / "venv"
    run(engine_python(), "-m", "venv", venv)
    pip = [venv / "bin" / "python", "-m", "pip", "install", "--disable-pip-version-check"]
    pins = ["-c", CONSTRAINTS]
    run(*pip, *BOOTSTRAP)
    say("installing torch 2.1.2 from PyPI (with its CUDA libraries: about 2.5 GB, once)")
    run(*pip, *pins, *TORCH)
    say("installing A1111's requirements_versions.txt")
    run(*pip, *pins, "-r", webui / "requirements_versions.txt")
    clip = downloads / "clip"
    unpack(CLIP, clip, downloads)
    say("installing openai CLIP (A1111's clip_package)")
    run(*pip, *pins, "--no-build-isolation", clip)
    run(venv / "bin" / "python", "-m", "pip", "check")
    return venv / "bin" / "python"


def install_extensions(python: Path, webui: Path, downloads: Path) -> None:
    """The extensions as the image installs them: sources, then their pinned requirements."""
    for source in EXTENSIONS:
        unpack(source, webui / source.dest, downloads)
    say("installing the extensions' requirements (docker/requirements-extensions.txt)")
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check"]
    run(*pip, "-c", EXTENSION_CONSTRAINTS, "-r", EXTENSION_REQUIREMENTS)
    check = subprocess.run(
        [str(python), "-m", "pip", "check"], capture_output=True, text=True, check=False
    )
    conflicts = [line for line in check.stdout.splitlines() if KNOWN_CONFLICT not in line]
    if conflicts:
        sys.exit("engine: pip check after the extensions:\n" + "\n".join(conflicts))


def make_weights(python: Path, root: Path, webui: Path) -> None:
    env = {**os.environ, "HF_HOME": str(root / "hf-home"), "HF_HUB_OFFLINE": "1"}
    env["TRANSFORMERS_OFFLINE"] = "1"
    say("making the CLIP tokenizer, a random SD1.5 checkpoint and two LoRAs (about a minute, 9 GB)")
    with engine_lock():
        run(python, WEIGHTS, "--webui", webui, "--hf-home", root / "hf-home", env=env)


def build(target: Path) -> None:
    # Built in place (a venv cannot move: its scripts name their own path); the mark comes last.
    shutil.rmtree(target, ignore_errors=True)
    webui = target / "webui"
    with tempfile.TemporaryDirectory(prefix="engine-downloads-") as tmp:
        downloads = Path(tmp)
        for source in SOURCES:
            unpack(source, webui / source.dest, downloads)
        python = make_venv(target, webui, downloads)
        install_extensions(python, webui, downloads)
    make_weights(python, target, webui)
    say("compiling A1111's modules")
    compile_webui(python, webui)
    (target / READY_MARK).write_text(f"{build_key()}\n")


def compile_webui(python: Path, webui: Path) -> None:
    """As the image does: A1111 then starts without compiling its ~370 modules (a cache: its
    first start would write them anyway, so the build key does not change with it)."""
    cmd = [str(python), "-m", "compileall", "-q", "-j", "0", str(webui)]
    subprocess.run(cmd, check=True, capture_output=True)


def maker_mark(target: Path, maker: Path) -> Path:
    digest = hashlib.sha256(maker.read_bytes()).hexdigest()[:12]
    return target / f"weights-{maker.stem}-{digest}"


def make_extra_weights(target: Path) -> None:
    """Runs each maker whose current version has not run in this engine yet."""
    webui, python = target / "webui", target / "venv" / "bin" / "python"
    env = {**os.environ, "HF_HOME": str(target / "hf-home"), "HF_HUB_OFFLINE": "1"}
    env["YOLO_CONFIG_DIR"] = str(target / "ultralytics")
    for maker in EXTRA_WEIGHTS:
        mark = maker_mark(target, maker)
        if mark.exists():
            continue
        say(f"making weights with {maker.name}")
        with engine_lock():
            run(python, maker, "--webui", webui, "--hf-home", target / "hf-home", env=env)
        for old in target.glob(f"weights-{maker.stem}-*"):
            old.unlink()
        mark.touch()


def ensure_built(force: bool = False) -> Path:
    target = engine_dir()
    if not is_built(target) or force:
        started = time.monotonic()
        say(f"building the real A1111 engine in {target} (takes minutes; kept for later runs)")
        build(target)
        say(f"A1111 engine built in {time.monotonic() - started:.0f} s at {target}")
    make_extra_weights(target)
    say(f"A1111 engine ready at {target}")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--print-dir", action="store_true", help="print the directory and exit")
    parser.add_argument("--force", action="store_true", help="rebuild even if it is built")
    args = parser.parse_args()
    if args.print_dir:
        print(engine_dir())
        return
    ensure_built(args.force)


if __name__ == "__main__":
    main()
