"""The container files: docker-bake.hcl, Dockerfile, shell scripts, model manifests, Hub files.

None of this builds the image (no Docker engine here); it checks what can be checked without one:
the bake targets and their arguments, the Dockerfile's stages, cache mounts and run-time
environment, lint (hadolint, shellcheck), the repository-cloning script against local git
repositories, the manifests, the ignore files, and the RunPod Hub files against the worker's
own input validation.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bake import load_bake, resolve

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
MODELS = ("awportrait_v14", "dreamshaper")
LCM_SHA256 = "8f90d840e075ff588a58e22c6586e2ae9a6f7922996ee6649a7f01072333afe4"
VAE_SHA256 = "735e4c3a447a3255760d7f86845f09f937809baa529c17370d83e4c3758f3c75"

sys.path.insert(0, str(ROOT / "docker"))
import fetch_models  # noqa: E402


def tool(name: str) -> str | None:
    candidate = VENV_BIN / name
    return str(candidate) if candidate.exists() else shutil.which(name)


# ----------------------------------------------------------------------------- docker-bake.hcl


@pytest.fixture(scope="module")
def bake():
    return load_bake()


def test_bake_variables_and_defaults(bake):
    variables = bake["variable"]
    assert variables["MODEL_NAME"]["default"] == "awportrait_v14"
    assert variables["GIT_VERSION"]["default"] == "v1.9.3"
    assert variables["APP_NAME"]["default"]
    assert variables["GIT_REPO_URL"]["default"].startswith("https://github.com/AUTOMATIC1111/")


def test_bake_default_target_follows_model_name(bake):
    default = resolve(bake, "default")
    assert default["args"]["MODEL_NAME"] == "awportrait_v14"
    assert default["args"]["GIT_VERSION"] == "v1.9.3"
    assert default["dockerfile"] == "Dockerfile" and default["context"] == "."
    other = resolve(bake, "default", MODEL_NAME="dreamshaper")
    assert other["args"]["MODEL_NAME"] == "dreamshaper"
    assert any("dreamshaper" in tag for tag in other["tags"])


@pytest.mark.parametrize("model", MODELS)
def test_bake_has_a_target_per_model(bake, model):
    target = resolve(bake, model)
    assert target["args"]["MODEL_NAME"] == model
    assert target["args"]["GIT_VERSION"] == "v1.9.3"
    assert target["args"]["GIT_REPO_URL"] == bake["variable"]["GIT_REPO_URL"]["default"]
    assert "WEBUI_CPU" not in target["args"]
    assert (ROOT / "models" / model / "manifest.json").is_file()
    assert len(target["tags"]) == 1 and model in target["tags"][0]


def test_bake_cpu_target_runs_a1111_on_the_cpu(bake):
    cpu = resolve(bake, "cpu")
    args = cpu["args"]
    device_args = args["WEBUI_DEVICE_ARGS"].split()
    for flag in ("--no-half", "--skip-torch-cuda-test"):
        assert flag in device_args
    assert device_args[device_args.index("--use-cpu") + 1] == "all"
    assert args["WEBUI_CPU"] == "1" and args["REQUIRE_GPU"] == "0"
    assert args["TORCH_INDEX_URL"].endswith("/whl/cpu")
    assert args["MODEL_NAME"] == "awportrait_v14"
    assert cpu["tags"][0].endswith("-cpu")
    assert set(bake["group"]["all"]["targets"]) == {*MODELS, "cpu"}


def test_every_bake_arg_is_a_dockerfile_arg(bake):
    declared = set(re.findall(r"^ARG (\w+)", (ROOT / "Dockerfile").read_text(), re.M))
    for name in bake["target"]:
        for arg in resolve(bake, name).get("args", {}):
            assert arg in declared, f"target {name}: build arg {arg} is not declared"


# ----------------------------------------------------------------------------- Dockerfile


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def stages(text: str) -> dict[str, str]:
    """Stage name -> its instructions (line continuations joined)."""
    joined = re.sub(r"\\\n", " ", text)
    result, current = {}, None
    for line in joined.splitlines():
        match = re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line, re.I)
        if match:
            current = match.group(1)
            result[current] = ""
        elif current:
            result[current] += line + "\n"
    return result


def test_hadolint_is_clean():
    hadolint = tool("hadolint")
    if not hadolint:
        pytest.skip("hadolint is not installed")
    proc = subprocess.run([hadolint, "Dockerfile"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerfile_stages_in_cache_friendly_order(dockerfile):
    names = list(stages(dockerfile))
    # a1111-sources: the empty default of the build context of source archives.
    assert names == [
        "a1111-sources",
        "base",
        "webui",
        "models",
        "controlnet-annotators",
        "tools",
        "handler-deps",
        "runtime",
    ]
    sources_stage = stages(dockerfile)["a1111-sources"]
    assert not re.search(r"^(RUN|COPY|ADD)", sources_stage, re.M), sources_stage
    assert "FROM scratch AS a1111-sources" in dockerfile
    runtime = stages(dockerfile)["runtime"]
    copies = re.findall(r"^COPY (.*)$", runtime, re.M)
    # Heavy, stable layers first; the project's code (which changes most) last.
    assert [c.split()[0] for c in copies[:-2]] == ["--from=webui"] * 3 + [
        "--from=controlnet-annotators",
        "--from=models",
        "--from=tools",  # the A1111 folder's part
        "--from=tools",  # openai CLIP's cache
        "--from=tools",  # the Hugging Face cache's part (BLIP's tokenizer)
        "--from=handler-deps",
    ]
    assert copies[-2] == "docker/a1111-scripts/ /stable-diffusion-webui/scripts/"
    assert copies[-1] == "src/ /app/src/"
    assert re.search(r'CMD \["/app/src/start.sh"\]', runtime)


def test_dockerfile_tools_stage_bakes_the_tools_manifest(dockerfile):
    tools = stages(dockerfile)["tools"]
    assert "source=models/_tools,target=/opt/build/tools" in tools
    assert "--manifest /opt/build/tools/manifest.json" in tools
    # The interrogators (optional entries) only on request.
    assert "ARG BAKE_INTERROGATORS=0" in tools
    assert 'if [ "${BAKE_INTERROGATORS}" = "1" ]; then optional="--include-optional"; fi' in tools
    # openai CLIP's ViT-L-14.pt goes where clip.load looks without --clip-models-path.
    runtime = stages(dockerfile)["runtime"]
    assert "COPY --from=tools /out/ /stable-diffusion-webui/" in runtime
    assert "COPY --from=tools /clip/ /root/.cache/" in runtime
    assert "mv /out/models/clip /clip/clip" in tools


def test_dockerfile_python_and_runtime_environment(dockerfile):
    assert "ARG PYTHON_IMAGE=python:3.10-" in dockerfile
    runtime = stages(dockerfile)["runtime"]
    for setting in (
        "PYTHONUNBUFFERED=1",
        "RUNPOD_LOG_LEVEL=INFO",
        "HF_HUB_OFFLINE=1",
        "TRANSFORMERS_OFFLINE=1",
        "HF_HOME=/opt/hf-home",
    ):
        assert setting in runtime
    # tcmalloc: installed in the base stage, at the path start.sh is given (Debian bookworm's
    # libtcmalloc-minimal4 ships /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4).
    assert "libtcmalloc-minimal4" in stages(dockerfile)["base"]
    assert "TCMALLOC=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4" in runtime


def test_dockerfile_bakes_everything_a1111_fetches_on_first_start(dockerfile):
    webui = stages(dockerfile)["webui"]
    assert "ARG GIT_VERSION=v1.9.3" in webui
    assert "ARG GIT_REPO_URL=https://github.com/AUTOMATIC1111/stable-diffusion-webui.git" in webui
    assert "'setuptools<70'" in webui
    assert "clone_repositories.sh repositories" in webui
    assert "ARG STABLE_DIFFUSION_REPO=https://github.com/w-e-w/stablediffusion.git" in webui
    assert "requirements_versions.txt" in webui
    assert webui.count("openai/clip-vit-large-patch14") >= 4  # fetched, then loaded offline
    assert "HF_HUB_OFFLINE=1" in webui


def test_every_pip_install_uses_the_pip_cache_mount(dockerfile):
    for stage, body in stages(dockerfile).items():
        for run in re.findall(r"^RUN .*$", body, re.M):
            if "pip install" in run:
                assert "--mount=type=cache,target=/root/.cache/pip" in run, (stage, run)


def test_models_stage_verifies_with_the_fetcher(dockerfile):
    models = stages(dockerfile)["models"]
    assert "ARG MODEL_NAME=awportrait_v14" in models
    assert "source=models/${MODEL_NAME}" in models
    assert "fetch_models.py fetch" in models and "--local-dir" in models
    assert "type=secret,id=CIVITAI_TOKEN,required=false" in models


# ----------------------------------------------------------------------------- shell scripts


def shell_scripts() -> list[Path]:
    return [ROOT / "src" / "start.sh", *sorted((ROOT / "docker").glob("*.sh"))]


def test_shellcheck_is_clean():
    shellcheck = tool("shellcheck")
    if not shellcheck:
        pytest.skip("shellcheck is not installed")
    proc = subprocess.run(
        [shellcheck, *map(str, shell_scripts())], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_scripts_are_executable():
    for path in [*shell_scripts(), ROOT / "docker" / "fetch_models.py"]:
        assert os.access(path, os.X_OK), path


def _git(*args, cwd):
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def local_repos(tmp_path):
    """Five local repositories with two commits each; returns {name: (url, first, second)}."""
    repos = {}
    for name in ("assets", "sd", "sgm", "kdiff", "blip"):
        path = tmp_path / "src" / name
        path.mkdir(parents=True)
        _git("init", "-q", cwd=path)
        _git("config", "uploadpack.allowAnySHA1InWant", "true", cwd=path)
        (path / "f").write_text(f"{name} 1")
        _git("add", "f", cwd=path)
        _git("commit", "-qm", f"{name} first", cwd=path)
        first = _git("rev-parse", "HEAD", cwd=path)
        (path / "f").write_text(f"{name} 2")
        _git("commit", "-qam", f"{name} second", cwd=path)
        second = _git("rev-parse", "HEAD", cwd=path)
        repos[name] = (f"file://{path}", first, second)
    return repos


def test_clone_repositories_uses_the_pins_of_launch_utils(tmp_path, local_repos):
    webui = tmp_path / "webui"
    (webui / "modules").mkdir(parents=True)
    # The pins as A1111 writes them; ASSETS_COMMIT_HASH is overridden from the environment below.
    pins = {
        "ASSETS_COMMIT_HASH": "0" * 40,  # overridden from the environment below
        "STABLE_DIFFUSION_COMMIT_HASH": local_repos["sd"][1],
        "STABLE_DIFFUSION_XL_COMMIT_HASH": local_repos["sgm"][1],
        "K_DIFFUSION_COMMIT_HASH": local_repos["kdiff"][1],
        "BLIP_COMMIT_HASH": local_repos["blip"][1],
    }
    # The pins as A1111's launch_utils.py writes them.
    (webui / "modules" / "launch_utils.py").write_text(
        "".join(
            f"    {var.lower()} = os.environ.get('{var}', \"{commit}\")\n"
            for var, commit in pins.items()
        )
    )
    env = {
        **os.environ,
        "ASSETS_REPO": local_repos["assets"][0],
        "ASSETS_COMMIT_HASH": local_repos["assets"][2],
        "STABLE_DIFFUSION_REPO": local_repos["sd"][0],
        "STABLE_DIFFUSION_XL_REPO": local_repos["sgm"][0],
        "K_DIFFUSION_REPO": local_repos["kdiff"][0],
        "BLIP_REPO": local_repos["blip"][0],
    }
    script = ROOT / "docker" / "clone_repositories.sh"
    proc = subprocess.run(
        [str(script), "repositories", str(webui)], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    expected = {
        "stable-diffusion-webui-assets": local_repos["assets"][2],  # environment override
        "stable-diffusion-stability-ai": local_repos["sd"][1],  # launch_utils.py pins
        "generative-models": local_repos["sgm"][1],
        "k-diffusion": local_repos["kdiff"][1],
        "BLIP": local_repos["blip"][1],
    }
    for name, commit in expected.items():
        assert _git("rev-parse", "HEAD", cwd=webui / "repositories" / name) == commit, name


def test_clone_repositories_checks_out_a_tag(tmp_path, local_repos):
    url, first, _ = local_repos["assets"]
    _git("tag", "v1.9.3", first, cwd=url.removeprefix("file://"))
    dest = tmp_path / "checkout"
    script = ROOT / "docker" / "clone_repositories.sh"
    proc = subprocess.run(
        [str(script), "checkout", url, "v1.9.3", str(dest)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert _git("rev-parse", "HEAD", cwd=dest) == first


def _archive(repo: Path, commit: str, dest: Path, prefix: str = "") -> None:
    """A `git archive` of commit as a .tar.gz (the commit id in its pax header)."""
    args = [
        "archive",
        "--format=tar.gz",
        "-o",
        str(dest),
        *(["--prefix", prefix] if prefix else []),
    ]
    _git(*args, commit, cwd=repo)


def test_clone_repositories_takes_sources_from_archives_by_commit(tmp_path, local_repos):
    archives = tmp_path / "archives"
    archives.mkdir()
    webui = tmp_path / "webui"
    webui.mkdir()
    env = {**os.environ, "SOURCES_DIR": str(archives)}
    variables = {
        "assets": "ASSETS",
        "sd": "STABLE_DIFFUSION",
        "sgm": "STABLE_DIFFUSION_XL",
        "kdiff": "K_DIFFUSION",
        "blip": "BLIP",
    }
    for name, (url, first, second) in local_repos.items():
        repo = Path(url.removeprefix("file://"))
        # Both commits archived, under names that say nothing: the commit id inside decides.
        _archive(repo, first, archives / f"{name}-a.tar.gz")
        # GitHub's archive downloads put the tree under <repo>-<commit>/.
        _archive(repo, second, archives / f"{name}-b.tar.gz", prefix=f"{name}-{second}/")
        env[f"{variables[name]}_COMMIT_HASH"] = second
    script = ROOT / "docker" / "clone_repositories.sh"
    mode = subprocess.run([str(script), "mode"], env=env, capture_output=True, text=True)
    assert mode.stdout.strip() == "archives"
    proc = subprocess.run(
        [str(script), "repositories", str(webui)], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    for name in ("stable-diffusion-webui-assets", "k-diffusion", "BLIP"):
        assert (webui / "repositories" / name / "f").read_text().endswith(" 2"), name
        assert not (webui / "repositories" / name / ".git").exists()
    # A commit no archive holds fails: nothing falls back to the network.
    url, first, _ = local_repos["assets"]
    missing = subprocess.run(
        [str(script), "checkout", url, "v1.9.3", str(tmp_path / "x"), "1" * 40],
        env=env,
        capture_output=True,
        text=True,
    )
    assert missing.returncode != 0 and "no archive" in missing.stderr, missing.stderr
    # The tag alone is not enough from archives: the expected commit is needed.
    untagged = subprocess.run(
        [str(script), "checkout", url, "v1.9.3", str(tmp_path / "y")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert untagged.returncode != 0, untagged.stderr
    empty = subprocess.run(
        [str(script), "mode"], env={**env, "SOURCES_DIR": str(tmp_path / "none")},
        capture_output=True, text=True,
    )  # fmt: skip
    assert empty.stdout.strip() == "git"


def test_clone_repositories_fallback_pins_are_a1111_v1_9_3():
    text = (ROOT / "docker" / "clone_repositories.sh").read_text()
    for commit in (
        "6f7db241d2f8ba7457bac5ca9753331f0c266917",  # assets
        "cf1d67a6fd5ea1aa600c4df58e5b47da45f6bdbf",  # stablediffusion
        "45c443b316737a4ab6e40413d7794a7f5657c19f",  # generative-models
        "ab527a9a6d347f364e3d185ba6d714e22d80cb3c",  # k-diffusion
        "48211a1594f1321b00f14c9f7a5b4813144b2fb9",  # BLIP
    ):
        assert commit in text


# ----------------------------------------------------------------------------- models


@pytest.mark.parametrize("model", MODELS)
def test_model_manifest(model):
    folder = ROOT / "models" / model
    manifest = fetch_models.load_manifest(folder / "manifest.json")
    assert manifest.name == model
    kinds = {e.kind for e in manifest.entries}
    assert {"checkpoint", "lora", "vae"} <= kinds
    for entry in manifest.entries:
        assert entry.url.startswith("https://"), entry.target
    lcm = manifest.entry("Lora/lcm.safetensors")
    assert lcm and lcm.sha256 == LCM_SHA256 and "lcm-lora-sdv1-5" in lcm.url
    vae = manifest.entry("VAE/vae-ft-mse-840000-ema-pruned.safetensors")
    assert vae and vae.sha256 == VAE_SHA256
    # No weights in git: only the manifest and the README live in the folder.
    tracked = {p.name for p in folder.iterdir() if p.is_file()}
    assert {"manifest.json", "README.md"} <= tracked
    readme = (folder / "README.md").read_text()
    for entry in manifest.entries:
        assert entry.filename in readme
        if not entry.verified:
            assert "not verified" in readme.lower() or "NOT verified" in readme


def test_dreamshaper_checkpoint_is_verified():
    manifest = fetch_models.load_manifest(ROOT / "models" / "dreamshaper" / "manifest.json")
    ckpt = manifest.entry(manifest.checkpoint)
    assert ckpt.sha256 == "879db523c30d3b9017143d56705015e15a2cb5628762c11d086fed9538abd7fd"
    assert ckpt.size == 2132625894


def test_weights_are_kept_out_of_git():
    for path in (
        "models/awportrait_v14/Stable-diffusion/awportrait_v14.safetensors",
        "models/dreamshaper/Lora/lcm.safetensors",
        "models/dreamshaper/embeddings/neg.pt",
        "models/dreamshaper/VAE/x.ckpt",
    ):
        proc = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
        assert proc.returncode == 0, f"{path} is not ignored"
    proc = subprocess.run(
        ["git", "check-ignore", "-q", "models/dreamshaper/manifest.json"], cwd=ROOT
    )
    assert proc.returncode == 1


def _dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern also matches a path's parents."""
    ignored = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        pattern = pattern.rstrip("/")
        regex = fnmatch.translate(pattern).replace(".*", "[^/]*").replace("[^/]*[^/]*", ".*")
        if pattern.startswith("**/"):
            regex = "(.*/)?" + fnmatch.translate(pattern[3:]).replace(".*", "[^/]*")
        if any(re.fullmatch(regex, p) for p in prefixes):
            ignored = not negate
    return ignored


def test_dockerignore_sends_only_what_the_build_uses():
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for needed in (
        "Dockerfile",
        "requirements.txt",
        "docker/fetch_models.py",
        "docker/clone_repositories.sh",
        "src/start.sh",
        "src/handler.py",
        "src/sdworker/worker.py",
        "models/dreamshaper/manifest.json",
        # A weight file put in the model folder by hand is used as it is.
        "models/dreamshaper/Stable-diffusion/dreamshaper_8.safetensors",
    ):
        assert not _dockerignored(needed, patterns), needed
    for unwanted in (
        ".git/config",
        ".venv/bin/python",
        "tests/test_start_sh.py",
        "src/x/__pycache__/a.pyc",
    ):
        assert _dockerignored(unwanted, patterns), unwanted


# ----------------------------------------------------------------------------- RunPod Hub


@pytest.fixture(scope="module")
def hub():
    return json.loads((ROOT / ".runpod" / "hub.json").read_text())


@pytest.fixture(scope="module")
def hub_tests():
    return json.loads((ROOT / ".runpod" / "tests.json").read_text())


def test_hub_json(hub):
    for key in ("title", "description", "type", "category", "config"):
        assert hub[key], key
    assert hub["type"] == "serverless" and hub["category"] == "image"
    config = hub["config"]
    assert config["runsOn"] == "GPU" and config["gpuCount"] == 1
    assert config["containerDiskInGb"] >= 20
    assert all(re.fullmatch(r"\d+\.\d+", v) for v in config["allowedCudaVersions"])
    assert min(float(v) for v in config["allowedCudaVersions"]) >= 12.1  # torch 2.1.2 cu121
    docs = (ROOT / "README.md").read_text()
    for env in config["env"]:
        assert set(env["input"]) >= {"name", "type", "description", "default"}, env["key"]
        assert env["input"]["type"] in ("string", "number", "boolean", "option")
        assert f"`{env['key']}`" in docs, f"{env['key']} is not documented"


def _worker_sources() -> str:
    files = [*(ROOT / "src").rglob("*.py"), *(ROOT / "docker").iterdir()]
    files += [ROOT / "src" / "start.sh", ROOT / "Dockerfile", ROOT / "docker-bake.hcl"]
    return "".join(p.read_text() for p in files if p.is_file())


def _development_sources() -> str:
    from tests.test_dev_scripts import PYTHON_SOURCES, SHELL_SOURCES

    return "".join(p.read_text() for p in [*SHELL_SOURCES, *PYTHON_SOURCES] if p.is_file())


def test_every_documented_environment_variable_is_read_by_the_worker(hub):
    """An input on the Hub page or a row in the README that nothing reads is silently ignored."""
    sources = _worker_sources() + _development_sources()
    documented = {env["key"] for env in hub["config"]["env"]}
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("| `"):
            documented |= set(re.findall(r"`([A-Z][A-Z0-9_]{2,})`", line.split("|")[1]))
    assert len(documented) > 30
    unread = sorted(name for name in documented if name not in sources)
    assert not unread, f"documented but read by nothing: {unread}"


def test_hub_tests_use_a1111_parameter_names(hub_tests):
    tests = hub_tests["tests"]
    assert tests
    generation = [t for t in tests if t["input"].get("api", "txt2img") == "txt2img"]
    assert generation
    for test in tests:
        assert test["name"] and isinstance(test["timeout"], int)
    for test in generation:
        fields = set(test["input"])
        assert {"prompt", "steps", "cfg_scale", "sampler_name"} <= fields, test["name"]
        assert not fields & {"num_inference_steps", "guidance_scale", "num_images_per_prompt"}
    assert any("<lora:lcm:" in t["input"]["prompt"] for t in generation)
    config = hub_tests["config"]
    assert config["gpuCount"] == 1 and config["gpuTypeId"]
    assert all({"key", "value"} <= set(e) for e in config["env"])


def test_hub_test_inputs_pass_the_workers_validation(hub_tests):
    from sdworker.inputs import validate
    from sdworker.operations import DEFAULT_API, OPERATIONS

    for test in hub_tests["tests"]:
        payload = dict(test["input"])
        api = payload.pop("api", DEFAULT_API)
        validate(OPERATIONS[api].input, payload, {})


def test_hub_tests_run_through_the_handler_against_the_standin(request, hub_tests):
    try:
        a1111 = request.getfixturevalue("a1111")
    except pytest.FixtureLookupError:
        pytest.skip("the stand-in A1111 fixture is not available")
    from sdworker.config import Settings
    from sdworker.worker import Worker
    from tests.helpers import run_job

    handler = Worker(Settings(webui_url=a1111.url, ready_timeout=10)).handle
    for test in hub_tests["tests"]:
        result = run_job(handler, test["input"])
        assert "error" not in result, (test["name"], result)


def test_every_start_sh_variable_is_documented():
    script = (ROOT / "src" / "start.sh").read_text()
    names = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*):[-+]", script)) - {"CURL_PID", "LD_PRELOAD"}
    assert {"WEBUI_READY_TIMEOUT", "WEBUI_CMD", "SERVE_LOCAL_API", "REQUIRE_GPU"} <= names
    docs = (ROOT / "README.md").read_text()
    missing = sorted(name for name in names if f"`{name}`" not in docs)
    assert not missing, f"not in README.md: {missing}"


def test_deployment_doc_covers_build_run_and_deploy():
    docs = (ROOT / "README.md").read_text()
    for text in (
        "docker buildx bake",
        "--set default.args.MODEL_NAME=dreamshaper",
        "docker run --rm --gpus all",
        "docker buildx bake cpu",
        "/runpod-volume",
        "refresh_worker",
        "HF_HUB_OFFLINE",
    ):
        assert text in docs, text


def test_the_hub_entry_runs_the_same_worker(a1111):
    """The Hub wants handler.py in .runpod/ or the root: .runpod/handler.py runs src/handler.py."""
    job = json.dumps({"input": {"api": "getLoras"}})
    proc = subprocess.run(
        [sys.executable, ".runpod/handler.py", "--test_input", job],
        cwd=ROOT,
        env={**os.environ, "WEBUI_URL": a1111.url, "WEBUI_READY_TIMEOUT": "10"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "job id=local_test api=getLoras" in out and "outcome=ok" in out
    assert "Job local_test completed successfully" in out and "'name': 'lcm'" in out


def test_freeze_constraints_writes_the_image_venvs_pins(tmp_path):
    # A docker stand-in that answers as the image would: the venv before the extensions (the
    # file the Dockerfile keeps) and after them (pip freeze).
    fake = tmp_path / "docker"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        '  *"--entrypoint cat IMAGE /opt/venv/pip-freeze-base.txt"*)\n'
        "    printf '%s\\n' accelerate==0.21.0 'clip @ file:///opt/build/clip' "
        "protobuf==3.20.3 torch==2.1.2+cpu ;;\n"
        '  *"--entrypoint /opt/venv/bin/pip IMAGE freeze"*)\n'
        "    printf '%s\\n' accelerate==0.21.0 'clip @ file:///opt/build/clip' "
        "mediapipe==0.10.15 protobuf==4.25.9 torch==2.1.2+cpu ;;\n"
        "  *) exit 9 ;;\n"
        "esac\n"
    )
    fake.chmod(0o755)
    proc = subprocess.run(
        [str(ROOT / "scripts" / "freeze-constraints"), "IMAGE", str(tmp_path)],
        env={**os.environ, "DOCKER": str(fake)},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    # CLIP (pinned by commit) left out; local version labels dropped so PyPI's wheels fit.
    base = (tmp_path / "constraints.txt").read_text().split()
    assert base == ["accelerate==0.21.0", "protobuf==3.20.3", "torch==2.1.2"]
    extended = (tmp_path / "constraints-extensions.txt").read_text().split()
    assert extended == [
        "accelerate==0.21.0",
        "mediapipe==0.10.15",
        "protobuf==4.25.9",
        "torch==2.1.2",
    ]


def test_the_engine_and_the_image_share_one_constraints_file():
    link = ROOT / "tests" / "engine" / "constraints.txt"
    assert link.is_symlink() and link.resolve() == (ROOT / "docker" / "constraints.txt").resolve()
    pins = (ROOT / "docker" / "constraints.txt").read_text().split()
    assert "open-clip-torch==2.20.0" in pins and "torch==2.1.2" in pins
    assert all("==" in pin and "+" not in pin for pin in pins), pins


def test_the_extension_pins_keep_a1111s_and_differ_only_where_the_extensions_need_it():
    def pins(name):
        lines = (ROOT / "docker" / name).read_text().split()
        return dict(line.split("==") for line in lines)

    base, extended = pins("constraints.txt"), pins("constraints-extensions.txt")
    changed = {name for name in base if extended.get(name) != base[name]}
    assert changed == {"protobuf", "pydantic", "timm"}
    assert extended["numpy"] == "1.26.2" and extended["torch"] == "2.1.2"
