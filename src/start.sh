#!/usr/bin/env bash
# Starts A1111 (API only, on 127.0.0.1) and the RunPod handler side by side, warms A1111 up,
# then lets the handler take jobs.
#
#   1. GPU check (unless REQUIRE_GPU=0 or WEBUI_CPU=1): a clear message and exit 1 without one.
#   2. Models on a RunPod network volume are linked beside the baked ones.
#   3. A1111 starts in the background under a small supervisor that records its PID, logs its
#      output to WEBUI_LOG and to stdout, and reports its exit the moment it happens.
#   4. The handler starts at once (with the SDK's local API server when SERVE_LOCAL_API=1): it
#      imports and prepares everything while A1111 loads, then waits for the file named in
#      WORKER_START_GATE to say `open` before it calls runpod.serverless.start, because RunPod
#      sends jobs from that moment on.
#   5. Warm-up: one tiny txt2img (64x64, 1 step) loads the checkpoint before the first job,
#      bounded by WEBUI_READY_TIMEOUT; then the gate opens. If A1111 exits or never answers, or
#      the handler exits first, start.sh closes the gate, stops both and exits 1 with the
#      reason and the end of A1111's log.
#   6. start.sh stays as the handler's parent: it passes a stop signal on and exits with the
#      handler's status (stopping A1111 too).
#
# If A1111 dies later, the supervisor logs it at once; the handler keeps serving, so every job
# gets a clear error with refresh_worker (RunPod then replaces the worker). With
# WEBUI_EXIT_GRACE=N the supervisor also stops the worker N seconds later.
# Every path and flag comes from the environment (see README.md), so this script runs
# on the host as well, e.g. against the project's stand-in A1111 via WEBUI_CMD.
set -Eeuo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() { printf '%s start.sh: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }
err() { log "ERROR: $*" >&2; }

# ----------------------------------------------------------------------------- configuration

WEBUI_DIR=${WEBUI_DIR:-/stable-diffusion-webui}
WEBUI_CPU=${WEBUI_CPU:-0}
if [ "$WEBUI_CPU" = "1" ]; then
    REQUIRE_GPU=${REQUIRE_GPU:-0}
    WEBUI_DEVICE_ARGS=${WEBUI_DEVICE_ARGS:---use-cpu all --no-half --precision full --skip-torch-cuda-test}
else
    REQUIRE_GPU=${REQUIRE_GPU:-1}
    WEBUI_DEVICE_ARGS=${WEBUI_DEVICE_ARGS:-}
fi

# Host and port come from WEBUI_URL when only that is given.
if [ -n "${WEBUI_URL:-}" ] && [[ $WEBUI_URL =~ ^https?://([^/:]+):([0-9]+)/?$ ]]; then
    WEBUI_HOST=${WEBUI_HOST:-${BASH_REMATCH[1]}}
    WEBUI_PORT=${WEBUI_PORT:-${BASH_REMATCH[2]}}
fi
WEBUI_HOST=${WEBUI_HOST:-127.0.0.1}
WEBUI_PORT=${WEBUI_PORT:-3000}
WEBUI_URL=${WEBUI_URL:-http://${WEBUI_HOST}:${WEBUI_PORT}}
WEBUI_URL=${WEBUI_URL%/}

if [ -z "${WEBUI_PYTHON:-}" ]; then
    if [ -x /opt/venv/bin/python ]; then WEBUI_PYTHON=/opt/venv/bin/python; else WEBUI_PYTHON=python3; fi
fi
WEBUI_EXTRA_ARGS=${WEBUI_EXTRA_ARGS:-}
WEBUI_CMD=${WEBUI_CMD:-}
WEBUI_LOG=${WEBUI_LOG:-/tmp/webui.log}
WEBUI_PID_FILE=${WEBUI_PID_FILE:-/tmp/webui.pid}
WEBUI_EXIT_FILE=${WEBUI_EXIT_FILE:-/tmp/webui.exit}
WEBUI_READY_TIMEOUT=${WEBUI_READY_TIMEOUT:-600}
WEBUI_POLL_INTERVAL=${WEBUI_POLL_INTERVAL:-0.25}
WEBUI_EXIT_GRACE=${WEBUI_EXIT_GRACE:-}
WEBUI_WARMUP=${WEBUI_WARMUP:-1}
WEBUI_WARMUP_PAYLOAD=${WEBUI_WARMUP_PAYLOAD:-'{"prompt": "warm-up", "steps": 1, "width": 64, "height": 64, "batch_size": 1, "n_iter": 1, "send_images": false, "save_images": false}'}
MODELS_VOLUME_DIR=${MODELS_VOLUME_DIR:-/runpod-volume/models}
# ultralytics (ADetailer) writes its settings file here, not in the home directory.
export YOLO_CONFIG_DIR=${YOLO_CONFIG_DIR:-$WEBUI_DIR/config/ultralytics}
TCMALLOC=${TCMALLOC:-}
NO_TCMALLOC=${NO_TCMALLOC:-0}
TMP_FILES=()
CURL_PID=""
SUPERVISOR_PID=""
HANDLER_PID=""
START_GATE=""

if [ -z "${HANDLER:-}" ]; then
    if [ -z "${HANDLER_PYTHON:-}" ]; then
        if [ -x /opt/handler-venv/bin/python ]; then HANDLER_PYTHON=/opt/handler-venv/bin/python; else HANDLER_PYTHON=python3; fi
    fi
    HANDLER="$HANDLER_PYTHON -u $SCRIPT_DIR/handler.py"
fi
SERVE_LOCAL_API=${SERVE_LOCAL_API:-0}
RP_API_HOST=${RP_API_HOST:-0.0.0.0}
RP_API_PORT=${RP_API_PORT:-8000}

# ----------------------------------------------------------------------------- helpers

# Milliseconds since the epoch (bash 5's EPOCHREALTIME; its decimal mark follows the locale).
now_ms() {
    local t=${EPOCHREALTIME/[.,]/}
    printf '%s\n' "$((t / 1000))"
}

# seconds (may be fractional) -> integer milliseconds
to_ms() { awk -v s="$1" 'BEGIN { if (s !~ /^[0-9]*\.?[0-9]+$/) exit 1; printf "%d\n", s * 1000 + 0.5 }'; }

# integer milliseconds -> seconds with 3 decimals
ms_to_s() { printf '%d.%03d\n' "$(($1 / 1000))" "$(($1 % 1000))"; }

webui_pid() { cat "$WEBUI_PID_FILE" 2>/dev/null || true; }

webui_exited() { [ -s "$WEBUI_EXIT_FILE" ]; }

tail_webui_log() {
    if [ -s "$WEBUI_LOG" ]; then
        err "last lines of $WEBUI_LOG:"
        tail -n "${1:-40}" "$WEBUI_LOG" | sed 's/^/    | /' >&2 || true
    fi
}

# Stop A1111 and its supervisor (TERM, then KILL after 5 s).
stop_webui() {
    local pid
    if [ -n "$SUPERVISOR_PID" ]; then
        kill -TERM "$SUPERVISOR_PID" 2>/dev/null || true
    fi
    pid=$(webui_pid)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        local i
        for i in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            [ "$i" -lt 50 ] || kill -KILL "$pid" 2>/dev/null || true
            sleep 0.1
        done
    fi
}

handler_running() {
    [ -n "$HANDLER_PID" ] && [[ " $(jobs -rp | tr '\n' ' ') " == *" $HANDLER_PID "* ]]
}

# Tell a waiting handler it will not take jobs: it exits within 1 s, saying why; one still
# preparing is stopped (TERM, then KILL after 5 s).
stop_handler() {
    if [ -n "$START_GATE" ] && [ ! -s "$START_GATE" ]; then
        printf 'closed: %s\n' "${1:-start-up failed}" >"$START_GATE"
    fi
    local i
    for i in $(seq 1 20); do
        handler_running || return 0
        sleep 0.05
    done
    kill -TERM "$HANDLER_PID" 2>/dev/null || true
    for i in $(seq 1 50); do
        handler_running || return 0
        [ "$i" -lt 50 ] || kill -KILL "$HANDLER_PID" 2>/dev/null || true
        sleep 0.1
    done
}

fail() {
    err "$*"
    tail_webui_log 40
    stop_handler "$*"
    stop_webui
    rm -f "${TMP_FILES[@]}"
    exit 1
}

# shellcheck disable=SC2329  # invoked by `trap`
on_signal() {
    err "received a stop signal during start-up; stopping A1111 and the handler"
    if [ -n "${CURL_PID:-}" ]; then kill -TERM "$CURL_PID" 2>/dev/null || true; fi
    stop_handler "stopped during start-up"
    stop_webui
    rm -f "${TMP_FILES[@]}"
    exit 143
}

# After the gate opened: a stop signal goes to the handler, which finishes as the SDK does.
# shellcheck disable=SC2329  # invoked by `trap`
pass_signal() {
    log "received a stop signal; passing it to the handler (pid $HANDLER_PID)"
    kill -TERM "$HANDLER_PID" 2>/dev/null || true
}

# sleep that a trapped signal interrupts at once (bash runs traps only between commands)
nap() {
    sleep "$1" &
    wait "$!" || true
}

check_gpu() {
    if [ "$REQUIRE_GPU" != "1" ]; then
        log "GPU check skipped (REQUIRE_GPU=$REQUIRE_GPU, WEBUI_CPU=$WEBUI_CPU)"
        return 0
    fi
    local listing=""
    if command -v nvidia-smi >/dev/null 2>&1; then
        listing=$(nvidia-smi -L 2>&1 || true)
        if grep -q '^GPU [0-9]' <<<"$listing"; then
            log "GPU: $(grep '^GPU [0-9]' <<<"$listing" | head -n 1)"
            return 0
        fi
    elif compgen -G '/dev/nvidia[0-9]*' >/dev/null; then
        log "GPU device found ($(compgen -G '/dev/nvidia[0-9]*' | head -n 1)); nvidia-smi not available"
        return 0
    fi
    err "no NVIDIA GPU is visible to this container${listing:+ (nvidia-smi: ${listing//$'\n'/ })}."
    err "This image runs A1111 on a GPU. On RunPod choose a GPU worker; locally run it with" \
        "'docker run --gpus all'. To try it without a GPU, build the cpu target" \
        "(docker buildx bake cpu) or set WEBUI_CPU=1 (slow)."
    exit 1
}

# /runpod-volume/models/<folder> -> a link inside A1111's own folder, so its files are listed
# beside the baked ones (A1111 follows symbolic links when it scans its model folders).
link_volume_models() {
    if [ ! -d "$MODELS_VOLUME_DIR" ]; then
        return 0
    fi
    if [ ! -d "$WEBUI_DIR" ]; then
        log "network volume models at $MODELS_VOLUME_DIR ignored: no A1111 directory at $WEBUI_DIR"
        return 0
    fi
    # A1111 folder (relative to WEBUI_DIR) | folder names accepted on the volume
    local mappings=(
        "models/Stable-diffusion|Stable-diffusion checkpoints"
        "models/Lora|Lora loras lora"
        "models/VAE|VAE vae"
        "embeddings|embeddings"
        "models/ControlNet|ControlNet controlnet"
        "models/ESRGAN|ESRGAN esrgan"
        "models/RealESRGAN|RealESRGAN realesrgan"
        "models/SwinIR|SwinIR swinir"
        "models/Codeformer|Codeformer codeformer CodeFormer"
        "models/GFPGAN|GFPGAN gfpgan"
        "models/adetailer|adetailer ADetailer"
        "models/BLIP|BLIP blip"
        "models/torch_deepdanbooru|torch_deepdanbooru deepdanbooru"
        "clip|clip CLIP"
    )
    local mapping dest names name canonical link
    for mapping in "${mappings[@]}"; do
        IFS='|' read -r dest names <<<"$mapping"
        canonical=${names%% *}
        for name in $names; do
            [ -d "$MODELS_VOLUME_DIR/$name" ] || continue
            if [ "$dest" = clip ]; then
                # openai CLIP takes ViT-L-14.pt from its own cache only (A1111 gives no path).
                link_volume_files "$MODELS_VOLUME_DIR/$name" "${HOME:-/root}/.cache/clip" .pt
                continue
            fi
            if [ "$dest" = models/adetailer ]; then
                link_volume_files "$MODELS_VOLUME_DIR/$name" "$WEBUI_DIR/$dest" .pt
                continue
            fi
            mkdir -p "$WEBUI_DIR/$dest"
            if [ "$name" = "$canonical" ]; then link=runpod-volume; else link=runpod-volume-$name; fi
            ln -sfn "$MODELS_VOLUME_DIR/$name" "$WEBUI_DIR/$dest/$link"
            log "network volume: $MODELS_VOLUME_DIR/$name -> $dest/$link"
        done
    done
}

# ADetailer lists its models with Python 3.10's rglob, which does not enter a linked folder, and
# openai CLIP opens one path: each file is linked instead (a baked file of the same name is kept).
link_volume_files() {
    local source=$1 dest=$2 suffix=$3 file
    mkdir -p "$dest"
    for file in "$source"/*"$suffix"; do
        [ -f "$file" ] || continue
        if [ -e "$dest/${file##*/}" ] && [ ! -L "$dest/${file##*/}" ]; then
            log "network volume: $file not linked: $dest has a baked file of that name"
            continue
        fi
        ln -sfn "$file" "$dest/${file##*/}"
        log "network volume: $file -> $dest/${file##*/}"
    done
}

find_tcmalloc() {
    if [ "$NO_TCMALLOC" = "1" ]; then
        return 0
    fi
    if [ -n "$TCMALLOC" ]; then
        if [ -f "$TCMALLOC" ]; then printf '%s\n' "$TCMALLOC"; fi
        return 0
    fi
    compgen -G '/usr/lib/*/libtcmalloc_minimal.so.4' | head -n 1 || true
}

# The command that starts A1111, in the array WEBUI_LAUNCH.
build_launch_command() {
    if [ -n "$WEBUI_CMD" ]; then
        WEBUI_LAUNCH=(bash -c "exec $WEBUI_CMD")
        return 0
    fi
    local ckpt=${WEBUI_CKPT:-}
    if [ -z "$ckpt" ] && [ -s "$WEBUI_DIR/baked-model.txt" ]; then
        read -r ckpt <"$WEBUI_DIR/baked-model.txt" || true
        ckpt="$WEBUI_DIR/$ckpt"
    fi
    WEBUI_LAUNCH=(
        "$WEBUI_PYTHON" -u launch.py
        --nowebui --api
        --port "$WEBUI_PORT"
        # Without --server-name A1111 listens on every interface in --nowebui mode.
        --server-name "$WEBUI_HOST"
        --skip-prepare-environment --skip-install
        --skip-python-version-check --skip-version-check
        --no-download-sd-model --no-hashing
        --opt-sdp-attention
    )
    # ADetailer would ask the Hugging Face Hub for its models at every start (a minute of
    # retries offline); its models are baked in models/adetailer instead.
    if [ -d "$WEBUI_DIR/extensions/adetailer" ]; then
        WEBUI_LAUNCH+=(--ad-no-huggingface)
    fi
    if [ -n "$ckpt" ]; then
        if [ -f "$ckpt" ]; then
            WEBUI_LAUNCH+=(--ckpt "$ckpt")
        else
            log "WARNING: checkpoint $ckpt not found; A1111 picks the first one it finds"
        fi
    fi
    local extra=()
    read -r -a extra <<<"$WEBUI_DEVICE_ARGS $WEBUI_EXTRA_ARGS"
    WEBUI_LAUNCH+=("${extra[@]}")
}

# Runs in the background: starts A1111, records its PID, waits for it, reports its exit.
supervise() {
    local tcmalloc pid status
    tcmalloc=$(find_tcmalloc)
    if [ -d "$WEBUI_DIR" ]; then cd "$WEBUI_DIR"; fi
    if [ -n "$tcmalloc" ]; then
        LD_PRELOAD="$tcmalloc${LD_PRELOAD:+:$LD_PRELOAD}" "${WEBUI_LAUNCH[@]}" \
            > >(tee -a "$WEBUI_LOG") 2>&1 &
    else
        "${WEBUI_LAUNCH[@]}" > >(tee -a "$WEBUI_LOG") 2>&1 &
    fi
    pid=$!
    printf '%s\n' "$pid" >"$WEBUI_PID_FILE.tmp"
    mv -f "$WEBUI_PID_FILE.tmp" "$WEBUI_PID_FILE"
    status=0
    wait "$pid" || status=$?
    printf '%s\n' "$status" >"$WEBUI_EXIT_FILE"
    if [ ! -s "$HANDLER_STARTED_FILE" ]; then
        err "A1111 (pid $pid) exited with status $status during start-up"
        return 0
    fi
    err "A1111 (pid $pid) EXITED with status $status. This worker can no longer generate:" \
        "jobs now fail at once with refresh_worker, and RunPod replaces the worker." \
        "See $WEBUI_LOG."
    if [ -n "$WEBUI_EXIT_GRACE" ]; then
        local grace_ms
        grace_ms=$(to_ms "$WEBUI_EXIT_GRACE") || grace_ms=0
        sleep "$(ms_to_s "$grace_ms")"
        err "stopping the worker (WEBUI_EXIT_GRACE=$WEBUI_EXIT_GRACE)"
        # start.sh passes it to the handler.
        kill -TERM "$$" 2>/dev/null || true
        local i
        for i in $(seq 1 100); do
            kill -0 "$$" 2>/dev/null || return 0
            sleep 0.1
        done
        err "the handler ignored SIGTERM for 10 s; killing it"
        kill -KILL "$$" 2>/dev/null || true
    fi
}

# What a failed curl attempt means, from its exit status.
curl_failure() {
    case "$1" in
    7) printf 'connection refused (not listening yet)' ;;
    28) printf 'no answer in time' ;;
    52) printf 'empty reply' ;;
    56) printf 'connection dropped' ;;
    *) printf 'curl exit status %s' "$1" ;;
    esac
}

# One tiny txt2img: returns when A1111 has loaded the checkpoint and generated an image.
warm_up() {
    local timeout_ms poll_ms started deadline now remaining code body codefile curl_rc
    local outcome="no attempt" noted="" last_note curl_args=()
    local route=/sdapi/v1/txt2img method=POST
    timeout_ms=$(to_ms "$WEBUI_READY_TIMEOUT") ||
        fail "WEBUI_READY_TIMEOUT must be a number of seconds, got '$WEBUI_READY_TIMEOUT'"
    poll_ms=$(to_ms "$WEBUI_POLL_INTERVAL") ||
        fail "WEBUI_POLL_INTERVAL must be a number of seconds, got '$WEBUI_POLL_INTERVAL'"
    # Poll at most every 1 s and at least every 50 ms.
    if [ "$poll_ms" -lt 50 ]; then poll_ms=50; fi
    if [ "$poll_ms" -gt 1000 ]; then poll_ms=1000; fi
    if [ "$WEBUI_WARMUP" != "1" ]; then
        route=/sdapi/v1/progress
        method=GET
        log "warm-up disabled (WEBUI_WARMUP=$WEBUI_WARMUP); waiting for $WEBUI_URL$route only"
    else
        log "warming up: one 64x64, 1-step txt2img at $WEBUI_URL (loads the checkpoint;" \
            "WEBUI_READY_TIMEOUT=${WEBUI_READY_TIMEOUT}s)"
    fi
    body=$(mktemp)
    codefile=$(mktemp)
    TMP_FILES+=("$body" "$codefile")
    started=$(now_ms)
    last_note=$started
    deadline=$((started + timeout_ms))
    while :; do
        if webui_exited; then
            fail "A1111 exited with status $(cat "$WEBUI_EXIT_FILE") before it was ready"
        fi
        if ! handler_running; then
            local handler_status=0
            wait "$HANDLER_PID" || handler_status=$?
            fail "the handler exited with status $handler_status before A1111 was warmed up" \
                "(its own message is above)"
        fi
        now=$(now_ms)
        remaining=$((deadline - now))
        if [ "$remaining" -le 0 ]; then
            fail "A1111 was not ready after ${WEBUI_READY_TIMEOUT}s (WEBUI_READY_TIMEOUT):" \
                "no successful $method $route at $WEBUI_URL; last attempt: $outcome"
        fi
        # curl runs in the background so that a stop signal is handled at once.
        curl_rc=0
        curl_args=(-sS -o "$body" -w '%{http_code}' --connect-timeout 2
            --max-time "$(ms_to_s "$remaining")")
        if [ "$method" = POST ]; then
            curl_args+=(-X POST -H 'Content-Type: application/json' --data "$WEBUI_WARMUP_PAYLOAD")
        fi
        : >"$body"
        curl "${curl_args[@]}" "$WEBUI_URL$route" >"$codefile" 2>/dev/null &
        CURL_PID=$!
        wait "$CURL_PID" || curl_rc=$?
        CURL_PID=""
        code=$(cat "$codefile" 2>/dev/null || true)
        case "$code" in
        200)
            log "A1111 is ready and warmed up after $(ms_to_s "$(($(now_ms) - started))")s"
            rm -f "$body" "$codefile"
            return 0
            ;;
        000 | "")
            outcome=$(curl_failure "$curl_rc")
            ;;
        400 | 401 | 403 | 404 | 405 | 413 | 415 | 422)
            fail "A1111 refused the warm-up request with HTTP $code:" \
                "$(head -c 400 "$body" | tr -d '\n')" \
                "(check WEBUI_WARMUP_PAYLOAD and WEBUI_URL)"
            ;;
        *)
            outcome="HTTP $code: $(head -c 300 "$body" | tr -d '\n')"
            ;;
        esac
        # Say what is happening when it changes, and every 10 s while waiting.
        now=$(now_ms)
        if [ "$outcome" != "$noted" ] || [ $((now - last_note)) -ge 10000 ]; then
            log "waiting for A1111 ($(ms_to_s "$((now - started))")s): $outcome"
            noted=$outcome
            last_note=$now
        fi
        nap "$(ms_to_s "$poll_ms")"
    done
}

# ----------------------------------------------------------------------------- main

check_gpu
command -v curl >/dev/null 2>&1 || {
    err "curl is needed for the warm-up request"
    exit 1
}
link_volume_models
build_launch_command

HANDLER_STARTED_FILE=$(mktemp)
TMP_FILES+=("$HANDLER_STARTED_FILE")
rm -f "$WEBUI_PID_FILE" "$WEBUI_EXIT_FILE"
mkdir -p "$(dirname "$WEBUI_LOG")" "$(dirname "$WEBUI_PID_FILE")" "$(dirname "$WEBUI_EXIT_FILE")"
: >"$WEBUI_LOG"

trap on_signal INT TERM
log "starting A1111: ${WEBUI_LAUNCH[*]} (log: $WEBUI_LOG)"
supervise &
SUPERVISOR_PID=$!

# The supervisor writes the PID file as soon as A1111 is started.
for _ in $(seq 1 500); do
    [ -s "$WEBUI_PID_FILE" ] && break
    sleep 0.01
done
[ -s "$WEBUI_PID_FILE" ] || fail "A1111 did not start (no PID in $WEBUI_PID_FILE)"
log "A1111 pid $(webui_pid) (pid file: $WEBUI_PID_FILE)"

handler_cmd=()
read -r -a handler_cmd <<<"$HANDLER"
if [ "$SERVE_LOCAL_API" = "1" ]; then
    handler_cmd+=(--rp_serve_api --rp_api_host "$RP_API_HOST" --rp_api_port "$RP_API_PORT")
fi
START_GATE=$(mktemp)
TMP_FILES+=("$START_GATE")
export WEBUI_URL WEBUI_READY_TIMEOUT WEBUI_PID_FILE WEBUI_EXIT_FILE WEBUI_LOG
export WORKER_START_GATE=$START_GATE
log "starting the handler, which takes jobs once A1111 is warmed up: ${handler_cmd[*]}"
"${handler_cmd[@]}" "$@" &
HANDLER_PID=$!

warm_up

echo started >"$HANDLER_STARTED_FILE"
echo open >"$START_GATE"
log "start gate open: the handler (pid $HANDLER_PID) takes jobs"
trap pass_signal INT TERM
handler_status=0
while :; do
    wait "$HANDLER_PID" || handler_status=$?
    # A trapped signal ends `wait` early; the handler may still be finishing.
    handler_running || break
    handler_status=0
done
log "the handler exited with status $handler_status; stopping A1111"
trap - INT TERM
stop_webui
rm -f "${TMP_FILES[@]}"
exit "$handler_status"
