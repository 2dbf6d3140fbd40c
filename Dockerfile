# syntax=docker/dockerfile:1.7
#
# RunPod serverless worker: AUTOMATIC1111 stable-diffusion-webui (API only) + the RunPod handler.
# Build with `docker buildx bake` (see docker-bake.hcl and README.md).
#
# Stages, heaviest and most stable first, so that a code change rebuilds only the last layers:
#   base          Python 3.10 + the system libraries A1111 needs at run time (tcmalloc, libGL...)
#   webui         A1111 at GIT_VERSION in /opt/venv: torch, its requirements, the five
#                 repositories it would clone on first start, the CLIP tokenizer files, and
#                 the ControlNet and ADetailer extensions with their requirements
#   models        the files of models/<MODEL_NAME>/manifest.json, downloaded and sha256-verified
#   controlnet-annotators  ControlNet's annotator weights (docker/controlnet-annotators.json)
#   tools         the same for models/_tools/manifest.json: upscalers, face restoration, ADetailer's
#                 detectors (and the interrogators with BAKE_INTERROGATORS=1), for every model
#   handler-deps  the handler's requirements in their own venv (A1111 pins old pydantic/Pillow)
#   runtime       everything above + src/ (start.sh, handler.py, sdworker/)

ARG PYTHON_IMAGE=python:3.10-slim-bookworm

# ------------------------------------------------------------------------------------------------
# Source archives for a build without GitHub: empty here, so the webui stage fetches from GitHub.
# `--build-context a1111-sources=DIR` (bake: contexts) puts a directory of `git archive`s in its
# place (README: "Building offline").
FROM scratch AS a1111-sources

# ------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS base

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# Run-time libraries only; the versions follow the Debian release of the base image.
# hadolint ignore=DL3008
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    rm -f /etc/apt/apt.conf.d/docker-clean && \
    apt-get update && \
    apt-get install -y --no-install-recommends \
        ca-certificates curl git libgl1 libglib2.0-0 libtcmalloc-minimal4 procps tini

# ------------------------------------------------------------------------------------------------
FROM base AS webui
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

ARG GIT_REPO_URL=https://github.com/AUTOMATIC1111/stable-diffusion-webui.git
ARG GIT_VERSION=v1.9.3
# The commit GIT_VERSION must be (checked); from source archives, the one looked for.
ARG GIT_COMMIT=1c0a0c4c26f78c32095ebc7f8af82f5c04fca8c0
# A1111 1.9.3 installs torch 2.1.2 / torchvision 0.16.2 for CUDA 12.1; the cpu target uses the
# CPU wheels instead (much smaller). PyPI's own Linux wheels are the cu121 build (they run on a
# CPU too): TORCH_INDEX_URL=https://pypi.org/simple where the PyTorch index is out of reach.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu121
ARG TORCH_VERSION=2.1.2
ARG TORCHVISION_VERSION=0.16.2
# openai/CLIP at the commit A1111's launch_utils.py installs (its clip_package).
ARG CLIP_REPO=https://github.com/openai/CLIP.git
ARG CLIP_COMMIT=d50d76daa670286dd6cacf3bcd80b5e4823fc8e1
# 1: A1111's requirements and everything they pull in at the versions of docker/constraints.txt
# (a build that worked). 0: whatever the index serves today (to refresh that file; README).
ARG PIN_DEPENDENCIES=1
# hub: the CLIP tokenizer files from the Hugging Face Hub; open_clip: made from open_clip's
# bundled BPE by docker/clip_tokenizer.py (no network); auto: open_clip when building from
# source archives, else hub.
ARG CLIP_FILES_FROM=auto

# Compilers for the few sdists among A1111's requirements (build stage only).
# hadolint ignore=DL3008
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    apt-get update && \
    apt-get install -y --no-install-recommends build-essential

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:${PATH} \
    PIP_CONSTRAINT=/opt/build/constraints.txt

# setuptools stays below 70: openai/CLIP's setup.py (and other old sdists) import pkg_resources.
# The constraint file applies to pip's isolated build environments too, and pins torch so that
# no requirement can silently swap the CUDA build.
COPY docker/constraints.txt /opt/build/pinned.txt
RUN --mount=type=cache,target=/root/.cache/pip \
    if [ "${PIN_DEPENDENCIES}" = "1" ]; then \
        grep -v -E '^(torch|torchvision)==' /opt/build/pinned.txt > /opt/build/constraints.txt; \
    else \
        : > /opt/build/constraints.txt; \
    fi && \
    printf '%s\n' 'setuptools<70' "torch==${TORCH_VERSION}" "torchvision==${TORCHVISION_VERSION}" \
        >> /opt/build/constraints.txt && \
    python -m venv /opt/venv && \
    pip install pip==24.0 setuptools==69.5.1 wheel==0.43.0

# The heaviest layer: its cache key is only the torch version and index (and the pins).
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install "torch==${TORCH_VERSION}" "torchvision==${TORCHVISION_VERSION}" \
        --extra-index-url "${TORCH_INDEX_URL}"

# Sources: from GitHub at pinned commits, or (air-gapped) from the `a1111-sources` build
# context, a directory of `git archive`s of the same commits (README: "Building offline").
# Either way each tree is checked against the commit it must be.
COPY docker/clone_repositories.sh /opt/build/clone_repositories.sh
ENV SOURCES_DIR=/opt/build/sources
RUN --mount=type=bind,from=a1111-sources,target=/opt/build/sources \
    /opt/build/clone_repositories.sh checkout "${GIT_REPO_URL}" "${GIT_VERSION}" \
        /stable-diffusion-webui "${GIT_COMMIT}" && \
    /opt/build/clone_repositories.sh checkout "${CLIP_REPO}" "${CLIP_COMMIT}" /opt/build/clip \
        "${CLIP_COMMIT}" && \
    /opt/build/clone_repositories.sh mode > /opt/build/sources-mode

WORKDIR /stable-diffusion-webui

# What A1111's prepare_environment() would install on first start, in the same order: CLIP,
# open_clip, then requirements_versions.txt. A1111 installs open_clip from a GitHub archive of
# commit bb6e834e, then reinstalls from requirements_versions.txt if its pin (open-clip-torch
# 2.20.0) is not met: it ends with 2.20.0 either way, and the image installs that PyPI release
# directly, with the others.
# hadolint ignore=DL3013
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-build-isolation /opt/build/clip && \
    pip install -r requirements_versions.txt && \
    pip check && \
    rm -rf /opt/build/clip

# The five repositories at the commits launch_utils.py pins. Stability-AI/stablediffusion was
# removed from GitHub; STABLE_DIFFUSION_REPO points at a mirror of the same commit.
ARG STABLE_DIFFUSION_REPO=https://github.com/w-e-w/stablediffusion.git
RUN --mount=type=bind,from=a1111-sources,target=/opt/build/sources \
    STABLE_DIFFUSION_REPO="${STABLE_DIFFUSION_REPO}" \
    /opt/build/clone_repositories.sh repositories /stable-diffusion-webui

# The first model load reads the openai/clip-vit-large-patch14 tokenizer and config from the
# Hugging Face cache: fetched from the Hub with the transformers version A1111 uses, or made
# from open_clip's copy of CLIP's BPE (docker/clip_tokenizer.py). Then: proof that they load
# offline, and that A1111 finds its repositories.
ENV HF_HOME=/opt/hf-home
COPY docker/clip_tokenizer.py /opt/build/clip_tokenizer.py
RUN tokenizer="${CLIP_FILES_FROM}"; \
    if [ "$tokenizer" = auto ]; then \
        tokenizer=hub; \
        if [ "$(cat /opt/build/sources-mode)" = archives ]; then tokenizer=open_clip; fi; \
    fi; \
    case "$tokenizer" in \
        hub) python -c "from transformers import CLIPTokenizer, CLIPTextConfig; \
CLIPTokenizer.from_pretrained('openai/clip-vit-large-patch14'); \
CLIPTextConfig.from_pretrained('openai/clip-vit-large-patch14')" ;; \
        open_clip) python /opt/build/clip_tokenizer.py --hf-home "${HF_HOME}" ;; \
        *) echo "CLIP_FILES_FROM must be auto, hub or open_clip, not '$tokenizer'" >&2; exit 1 ;; \
    esac && \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 python -c "from transformers import CLIPTokenizer, \
CLIPTextConfig; CLIPTokenizer.from_pretrained('openai/clip-vit-large-patch14'); \
CLIPTextConfig.from_pretrained('openai/clip-vit-large-patch14')" && \
    python -c "import modules.paths"

# The two extensions users reach for through the API, at pinned commits (from GitHub, or from the
# same source archives), and their PyPI requirements pinned by docker/constraints-extensions.txt
# (unpinned, pip would take numpy 2 and break torch 2.1.2). Their install.py files never run:
# A1111 starts with --skip-install. The venv's versions before this step are kept in
# /opt/venv/pip-freeze-base.txt (scripts/freeze-constraints reads both sets back).
ARG CONTROLNET_REPO=https://github.com/Mikubill/sd-webui-controlnet.git
ARG CONTROLNET_COMMIT=56cec5b2958edf3b1807b7e7b2b1b5186dbd2f81
ARG ADETAILER_REPO=https://github.com/Bing-su/adetailer.git
ARG ADETAILER_VERSION=v25.3.0
ARG ADETAILER_COMMIT=36189cbea735b85fd01e98ac42002b8ce6f0e41d
COPY docker/requirements-extensions.txt docker/constraints-extensions.txt /opt/build/
RUN --mount=type=bind,from=a1111-sources,target=/opt/build/sources \
    --mount=type=cache,target=/root/.cache/pip \
    pip freeze --exclude-editable > /opt/venv/pip-freeze-base.txt && \
    /opt/build/clone_repositories.sh checkout "${CONTROLNET_REPO}" "${CONTROLNET_COMMIT}" \
        extensions/sd-webui-controlnet "${CONTROLNET_COMMIT}" && \
    /opt/build/clone_repositories.sh checkout "${ADETAILER_REPO}" "${ADETAILER_VERSION}" \
        extensions/adetailer "${ADETAILER_COMMIT}" && \
    if [ "${PIN_DEPENDENCIES}" = "1" ]; then \
        grep -v -E '^(torch|torchvision)==' /opt/build/constraints-extensions.txt \
            > /opt/build/constraints.txt; \
    else \
        echo 'numpy==1.26.2' > /opt/build/constraints.txt; \
    fi && \
    printf '%s\n' 'setuptools<70' "torch==${TORCH_VERSION}" "torchvision==${TORCHVISION_VERSION}" \
        >> /opt/build/constraints.txt && \
    pip install -r /opt/build/requirements-extensions.txt && \
    conflicts=$(pip check | grep -v -F -e 'open-clip-torch 2.20.0 has requirement protobuf<4' \
        -e 'No broken requirements found' || true) && \
    if [ -n "$conflicts" ]; then echo "$conflicts" >&2; exit 1; fi

# A1111 and its repositories compiled once here, not at every cold start (about 370 modules,
# 1-1.5 s of its start-up on a 2-core machine; the venv's packages are compiled by pip). Each
# .pyc records its source's mtime and size, which COPY --from keeps, so they stay valid.
RUN python -m compileall -q -j 0 /stable-diffusion-webui

# ------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS models

ARG MODEL_NAME=awportrait_v14
# 1: refuse manifest entries that have no sha256 (even when marked unverified).
ARG STRICT_CHECKSUMS=0

# The model folder is bind-mounted, not copied: weights already there are used as they are
# without an extra layer. Downloads are kept (by sha256) in a cache mount across builds. Tokens
# for hosts that need one come from optional build secrets, never from build arguments.
RUN --mount=type=bind,source=docker/fetch_models.py,target=/opt/build/fetch_models.py \
    --mount=type=bind,source=models/${MODEL_NAME},target=/opt/build/model \
    --mount=type=cache,target=/cache/models \
    --mount=type=secret,id=CIVITAI_TOKEN,required=false \
    --mount=type=secret,id=HF_TOKEN,required=false \
    strict=""; \
    if [ "${STRICT_CHECKSUMS}" = "1" ]; then strict="--strict"; fi; \
    python /opt/build/fetch_models.py fetch ${strict} \
        --manifest /opt/build/model/manifest.json \
        --local-dir /opt/build/model \
        --cache-dir /cache/models \
        --dest /out

# ------------------------------------------------------------------------------------------------
# ControlNet's annotator weights (openpose, depth_midas, hed, pidinet, lineart, mlsd), which the
# extension would download on first use and, offline, silently go without:
# docker/controlnet-annotators.json, every file sha256-verified. BAKE_ANNOTATORS=0 leaves them
# out (the worker then refuses those preprocessors, naming the files).
FROM ${PYTHON_IMAGE} AS controlnet-annotators

ARG BAKE_ANNOTATORS=1
RUN --mount=type=bind,source=docker/fetch_models.py,target=/opt/build/fetch_models.py \
    --mount=type=bind,source=docker/fetch_annotators.py,target=/opt/build/fetch_annotators.py \
    --mount=type=bind,source=docker/controlnet-annotators.json,target=/opt/build/annotators.json \
    --mount=type=cache,target=/cache/models \
    mkdir -p /out && \
    if [ "${BAKE_ANNOTATORS}" = "1" ]; then \
        python /opt/build/fetch_annotators.py fetch --manifest /opt/build/annotators.json \
            --dest /out --cache-dir /cache/models; \
    fi

# ------------------------------------------------------------------------------------------------
# The weights A1111 and ADetailer would download on first use (an offline worker cannot):
# models/_tools/manifest.json, verified the same way. The same for every model, so built once.
FROM ${PYTHON_IMAGE} AS tools

# 1: also the interrogators (BLIP and CLIP ViT-L/14 for "clip", DeepDanbooru): about 2.4 GB more.
ARG BAKE_INTERROGATORS=0

# openai CLIP looks for ViT-L-14.pt in ~/.cache/clip (A1111 passes no --clip-models-path); BLIP's
# tokenizer goes to the Hugging Face cache (HF_HOME), the category lists to interrogate/.
RUN --mount=type=bind,source=docker/fetch_models.py,target=/opt/build/fetch_models.py \
    --mount=type=bind,source=models/_tools,target=/opt/build/tools \
    --mount=type=cache,target=/cache/models \
    optional=""; \
    if [ "${BAKE_INTERROGATORS}" = "1" ]; then optional="--include-optional"; fi; \
    python /opt/build/fetch_models.py fetch ${optional} \
        --manifest /opt/build/tools/manifest.json \
        --local-dir /opt/build/tools \
        --cache-dir /cache/models \
        --dest /out && \
    mkdir -p /out/models/clip /clip /out/hf-home && \
    mv /out/models/clip /clip/clip && \
    mv /out/hf-home /hf

# ------------------------------------------------------------------------------------------------
FROM base AS handler-deps

COPY requirements.txt /opt/build/requirements.txt
RUN --mount=type=cache,target=/root/.cache/pip \
    python -m venv /opt/handler-venv && \
    /opt/handler-venv/bin/pip install -r /opt/build/requirements.txt

# ------------------------------------------------------------------------------------------------
FROM base AS runtime

# The heavy layers first, before any build argument or ENV: the cpu and the GPU image (which
# differ only in those) then share them instead of storing 8 GB each.
COPY --from=webui /opt/venv /opt/venv
COPY --from=webui /opt/hf-home /opt/hf-home
COPY --from=webui /stable-diffusion-webui /stable-diffusion-webui
COPY --from=controlnet-annotators /out/ \
    /stable-diffusion-webui/extensions/sd-webui-controlnet/annotator/downloads/
COPY --from=models /out/ /stable-diffusion-webui/
COPY --from=tools /out/ /stable-diffusion-webui/
COPY --from=tools /clip/ /root/.cache/
COPY --from=tools /hf/ /opt/hf-home/
COPY --from=handler-deps /opt/handler-venv /opt/handler-venv

ARG MODEL_NAME=awportrait_v14
ARG GIT_VERSION=v1.9.3
ARG APP_NAME=runpod-worker-a1111
# The cpu target sets these three (docker-bake.hcl). Empty values leave start.sh's defaults:
# GPU required, no device arguments; `docker run -e WEBUI_CPU=1` then switches both.
ARG WEBUI_CPU=0
ARG REQUIRE_GPU=""
ARG WEBUI_DEVICE_ARGS=""

LABEL org.opencontainers.image.title="${APP_NAME}" \
      org.opencontainers.image.description="RunPod serverless worker for AUTOMATIC1111 ${GIT_VERSION} (${MODEL_NAME})"

ENV PYTHONUNBUFFERED=1 \
    RUNPOD_LOG_LEVEL=INFO \
    HF_HOME=/opt/hf-home \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    GRADIO_ANALYTICS_ENABLED=False \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    MODEL_NAME=${MODEL_NAME} \
    WEBUI_CPU=${WEBUI_CPU} \
    REQUIRE_GPU=${REQUIRE_GPU} \
    WEBUI_DEVICE_ARGS=${WEBUI_DEVICE_ARGS} \
    WEBUI_DIR=/stable-diffusion-webui \
    WEBUI_PYTHON=/opt/venv/bin/python \
    HANDLER_PYTHON=/opt/handler-venv/bin/python \
    TCMALLOC=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4

# Keeps torch's CPU thread count where A1111 set it when ADetailer (ultralytics) changes it.
# Compiled here like the rest of A1111 (webui stage): A1111 would write its .pyc at every start.
COPY docker/a1111-scripts/ /stable-diffusion-webui/scripts/
RUN /opt/venv/bin/python -m compileall -q /stable-diffusion-webui/scripts
COPY src/ /app/src/

WORKDIR /app
# 8000: the SDK's local test API, only when SERVE_LOCAL_API=1 (docker run -p 8000:8000).
EXPOSE 8000
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["/app/src/start.sh"]
