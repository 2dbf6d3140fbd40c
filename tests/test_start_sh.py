"""src/start.sh on the host, against the stand-in A1111 (its launch command made configurable).

Each test starts start.sh in its own process group (killed afterwards, with everything it
started) with small timeouts: the handler is prepared while A1111 loads and takes jobs only after
the warm-up; an A1111 that never becomes ready, or exits, or a handler that cannot start, ends
start-up in a bounded, clear failure; stop signals reach both; an A1111 killed mid-run is noticed
at once and the next job fails fast with refresh_worker; the GPU check; the default A1111 command
line, network-volume links and tcmalloc.

A test's own HANDLER command is started alongside A1111 as the real one is: `gated()` makes it
wait for start.sh's go-ahead (WORKER_START_GATE) as src/handler.py does.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
START = ROOT / "src" / "start.sh"
PY = sys.executable
HANDLER_UP_TIMEOUT = 25


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def standin_cmd(port: int, *args: str) -> str:
    return shlex.join(
        [PY, "-m", "tests.a1111_standin", "--host", "127.0.0.1", "--port", str(port), *args]
    )


def gated(tmp_path: Path, command: str) -> str:
    """A HANDLER that runs `command` once the start gate opens, and exits 1 if it closes."""
    script = tmp_path / f"gated-{len(list(tmp_path.glob('gated-*')))}.sh"
    script.write_text(
        "#!/usr/bin/env bash\n"
        'while [ ! -s "$WORKER_START_GATE" ]; do sleep 0.01; done\n'
        'read -r word < "$WORKER_START_GATE"\n'
        '[ "$word" = open ] || exit 1\n'
        f'exec {command} "$@"\n'
    )
    script.chmod(0o755)
    return str(script)


class Run:
    def __init__(self, env: dict, tmp: Path):
        self.env = env
        self.tmp = tmp
        self.out_path = tmp / "start.out"
        self.started = time.monotonic()
        self._out = open(self.out_path, "w")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            [str(START)],
            cwd=ROOT,
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    @property
    def output(self) -> str:
        return self.out_path.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 15) -> float:
        """Seconds until `text` appears in start.sh's output."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output:
                return time.monotonic()
            time.sleep(0.02)
        raise AssertionError(f"{text!r} did not appear within {timeout}s:\n{self.output}")

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"start.sh still running after {timeout}s:\n{self.output}"
            ) from None

    def webui_pid(self) -> int:
        return int(Path(self.env["WEBUI_PID_FILE"]).read_text())

    def wait_handler_api(self) -> str:
        url = f"http://127.0.0.1:{self.env['RP_API_PORT']}"
        deadline = time.monotonic() + HANDLER_UP_TIMEOUT
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"start.sh exited:\n{self.output}"
            try:
                requests.get(url + "/docs", timeout=1)
                return url
            except requests.ConnectionError:
                time.sleep(0.05)
        raise AssertionError(f"the handler's local API did not come up:\n{self.output}")

    def stop(self) -> None:
        for pid in {self.proc.pid, *_pid_or_none(self.env["WEBUI_PID_FILE"])}:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(OSError, ValueError):
            os.kill(self.webui_pid(), signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self._out.close()


def _pid_or_none(path: str) -> set[int]:
    try:
        pid = int(Path(path).read_text())
        return {os.getpgid(pid)}
    except (OSError, ValueError):
        return set()


def ends_within(seconds: float, pid: int) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def start_sh(tmp_path):
    runs: list[Run] = []

    def run(**overrides) -> Run:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("WEBUI_", "RP_", "RUNPOD_")) and k not in ("HANDLER", "TCMALLOC")
        }
        env.update(
            PYTHONPATH=str(ROOT),
            RUNPOD_LOG_LEVEL="INFO",
            REQUIRE_GPU="0",
            WEBUI_DIR=str(tmp_path / "no-webui-dir"),
            WEBUI_LOG=str(tmp_path / "webui.log"),
            WEBUI_PID_FILE=str(tmp_path / "webui.pid"),
            WEBUI_EXIT_FILE=str(tmp_path / "webui.exit"),
            WEBUI_POLL_INTERVAL="0.05",
            MODELS_VOLUME_DIR=str(tmp_path / "no-volume"),
            NO_TCMALLOC="1",
            RP_API_HOST="127.0.0.1",
            RP_API_PORT=str(free_port()),
            HANDLER=f"{PY} src/handler.py",
        )
        for key, value in overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = str(value)
        runs.append(Run(env, tmp_path))
        return runs[-1]

    yield run
    for r in runs:
        r.stop()


@pytest.fixture
def standin_port():
    return free_port()


def stats(port: int) -> dict:
    return requests.get(f"http://127.0.0.1:{port}/__standin__/stats", timeout=5).json()


def txt2img_job(**extra) -> dict:
    return {"input": {"prompt": "a lighthouse", "steps": 2, "width": 64, "height": 64, **extra}}


# ----------------------------------------------------------------------------- warm-up


def test_warm_up_happens_before_the_handler_takes_a_job(start_sh, standin_port):
    run = start_sh(
        WEBUI_URL=f"http://127.0.0.1:{standin_port}",
        # Longer than the handler's own preparation (importing runpod alone takes ~2 s).
        WEBUI_CMD=standin_cmd(standin_port, "--model-load-seconds", "6"),
        SERVE_LOCAL_API=1,
    )
    api = run.wait_handler_api()
    handler_up = time.time()
    before = stats(standin_port)
    # Exactly one generation so far: the warm-up, a 64x64 one-step txt2img...
    assert before["counts"].get("POST /sdapi/v1/txt2img") == 1
    posts = [r for r in before["requests"] if r["method"] == "POST"]
    assert [r["path"] for r in posts] == ["/sdapi/v1/txt2img"]
    warm_up = next(p["body"] for p in before["payloads"] if p["path"] == "/sdapi/v1/txt2img")
    assert (warm_up["width"], warm_up["height"], warm_up["steps"]) == (64, 64, 1)
    assert warm_up["send_images"] is False
    # ...and the handler took jobs only once it had returned (the model took 6 s to load),
    # having prepared itself meanwhile: it started before the warm-up and was waiting.
    assert handler_up - posts[0]["t"] >= 5.0
    out = run.output
    assert out.index("starting the handler") < out.index("is ready and warmed up")
    assert out.index("worker prepared; waiting") < out.index("is ready and warmed up")
    assert out.index("is ready and warmed up") < out.index("worker serving")

    result = requests.post(api + "/runsync", json=txt2img_job(), timeout=30).json()
    assert result["status"] == "COMPLETED", result
    assert result["output"]["images"]
    assert stats(standin_port)["counts"]["POST /sdapi/v1/txt2img"] == 2

    # The PID is recorded; A1111's output goes to the log file and to stdout.
    assert alive(run.webui_pid())
    log = Path(run.env["WEBUI_LOG"]).read_text()
    assert "listening on" in log and "listening on" in out


def test_warm_up_can_be_reduced_to_a_readiness_wait(start_sh, standin_port, tmp_path):
    run = start_sh(
        WEBUI_URL=f"http://127.0.0.1:{standin_port}",
        WEBUI_CMD=standin_cmd(standin_port),
        WEBUI_WARMUP=0,
        HANDLER=gated(tmp_path, f"{PY} -c \"print('handler-ran')\""),
    )
    assert run.wait_exit(20) == 0, run.output
    assert "handler-ran" in run.output
    # The stand-in logs each request it answers (start.sh stopped it when the handler exited).
    webui_log = Path(run.env["WEBUI_LOG"]).read_text()
    assert "GET /sdapi/v1/progress 200" in webui_log
    assert "POST /sdapi/v1/txt2img" not in webui_log


# ----------------------------------------------------------------------------- start-up failures


@pytest.mark.parametrize(
    "fault, last_attempt",
    [
        (["--hang"], "no answer in time"),
        (["--start-delay", "60"], "connection refused"),
        (["--fail-status", "500"], "HTTP 500"),
    ],
    ids=["hangs", "never-listens", "answers-500"],
)
def test_a1111_that_never_becomes_ready_fails_bounded_and_clearly(
    start_sh, standin_port, tmp_path, fault, last_attempt
):
    marker = tmp_path / "handler-started"
    run = start_sh(
        WEBUI_URL=f"http://127.0.0.1:{standin_port}",
        WEBUI_CMD=standin_cmd(standin_port, *fault),
        WEBUI_READY_TIMEOUT=3,
        HANDLER=gated(tmp_path, f"touch {marker}"),
    )
    assert run.wait_exit(12) == 1
    elapsed = time.monotonic() - run.started
    assert 3 <= elapsed < 10, elapsed
    out = run.output
    assert "A1111 was not ready after 3s (WEBUI_READY_TIMEOUT)" in out
    assert f"last attempt: {last_attempt}" in out
    assert not marker.exists(), "the handler must not take jobs"
    # start.sh stopped A1111 on its way out.
    pid = run.webui_pid()
    assert ends_within(5, pid), pid


def test_the_waiting_handler_is_told_why_it_will_not_take_jobs(start_sh, standin_port):
    run = start_sh(
        WEBUI_URL=f"http://127.0.0.1:{standin_port}",
        WEBUI_CMD=standin_cmd(standin_port, "--start-delay", "60"),
        WEBUI_READY_TIMEOUT=6,
    )
    assert run.wait_exit(20) == 1
    out = run.output
    # It stops on its own, saying why, although it was still waiting for A1111 to answer.
    assert "worker not started: closed: A1111 was not ready after 6s" in out
    assert "worker prepared" not in out
    assert "Starting Serverless Worker" not in out


def test_a1111_exiting_during_start_up_fails_fast_with_its_log(start_sh, tmp_path):
    marker = tmp_path / "handler-started"
    run = start_sh(
        WEBUI_URL=f"http://127.0.0.1:{free_port()}",
        WEBUI_CMD=f"{PY} -c \"print('RuntimeError: cannot load it'); raise SystemExit(3)\"",
        WEBUI_READY_TIMEOUT=60,
        HANDLER=gated(tmp_path, f"touch {marker}"),
    )
    assert run.wait_exit(10) == 1
    assert time.monotonic() - run.started < 8
    out = run.output
    assert "A1111 exited with status 3 before it was ready" in out
    assert "| RuntimeError: cannot load it" in out  # the end of A1111's log
    assert not marker.exists()


def test_a_handler_that_cannot_start_ends_start_up_at_once(start_sh, standin_port):
    # The handler is prepared while A1111 loads: its own mistake is reported without waiting
    # for the checkpoint (here it would take 30 s to load).
    run = start_sh(
        WEBUI_URL=f"http://127.0.0.1:{standin_port}",
        WEBUI_CMD=standin_cmd(standin_port, "--model-load-seconds", "30"),
        JOB_TIMEOUT="soon",
    )
    assert run.wait_exit(15) == 1
    assert time.monotonic() - run.started < 12
    out = run.output
    assert "worker not started: JOB_TIMEOUT=soon: allowed: a number of seconds above 0" in out
    assert "the handler exited with status 1 before A1111 was warmed up" in out
    pid = run.webui_pid()
    assert ends_within(5, pid), pid


def test_a_stop_signal_during_start_up_stops_a1111_and_the_waiting_handler(start_sh, standin_port):
    run = start_sh(
        WEBUI_URL=f"http://127.0.0.1:{standin_port}",
        WEBUI_CMD=standin_cmd(standin_port, "--model-load-seconds", "30"),
    )
    run.wait_for("worker prepared; waiting", timeout=HANDLER_UP_TIMEOUT)
    handler_pids = [p for p in children(run.proc.pid) if "handler.py" in cmdline(p)]
    assert len(handler_pids) == 1
    run.proc.send_signal(signal.SIGTERM)
    assert run.wait_exit(10) == 143
    assert "received a stop signal during start-up" in run.output
    for pid in (run.webui_pid(), handler_pids[0]):
        assert ends_within(5, pid), pid


def test_a_stop_signal_while_serving_reaches_the_handler_and_a1111_stops_too(
    start_sh, standin_port
):
    run = start_sh(
        WEBUI_URL=f"http://127.0.0.1:{standin_port}",
        WEBUI_CMD=standin_cmd(standin_port),
        SERVE_LOCAL_API=1,
    )
    run.wait_handler_api()
    webui = run.webui_pid()
    run.proc.send_signal(signal.SIGTERM)
    status = run.wait_exit(15)
    out = run.output
    assert "passing it to the handler" in out
    assert f"the handler exited with status {status}; stopping A1111" in out
    assert ends_within(5, webui), webui


def children(pid: int) -> list[int]:
    found = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in found.stdout.split()]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_a_bad_warm_up_request_is_not_retried_for_ever(start_sh, standin_port):
    run = start_sh(
        WEBUI_URL=f"http://127.0.0.1:{standin_port}",
        WEBUI_CMD=standin_cmd(standin_port),
        WEBUI_WARMUP_PAYLOAD='{"width": "abc"}',
        WEBUI_READY_TIMEOUT=60,
    )
    assert run.wait_exit(15) == 1
    assert "refused the warm-up request with HTTP 422" in run.output


# ----------------------------------------------------------------------------- A1111 dies later


def test_a1111_killed_mid_run_is_noticed_at_once_and_jobs_fail_fast(start_sh, standin_port):
    run = start_sh(
        WEBUI_URL=f"http://127.0.0.1:{standin_port}",
        WEBUI_CMD=standin_cmd(standin_port, "--generation-seconds", "3"),
        SERVE_LOCAL_API=1,
    )
    api = run.wait_handler_api()
    pid = run.webui_pid()
    # A job is running when A1111 dies.
    in_flight: dict = {}

    def post_job():
        in_flight["result"] = requests.post(api + "/runsync", json=txt2img_job(), timeout=30).json()

    job_thread = threading.Thread(target=post_job, daemon=True)
    job_thread.start()
    deadline = time.monotonic() + 10
    while stats(standin_port)["counts"].get("POST /sdapi/v1/txt2img", 0) < 2:
        assert time.monotonic() < deadline, "the job never reached A1111"
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    noticed = run.wait_for(f"A1111 (pid {pid}) EXITED with status 137", timeout=5)
    assert noticed - killed < 1.0
    assert Path(run.env["WEBUI_EXIT_FILE"]).read_text().strip() == "137"

    # The job in flight fails at once, not after its 3 s generation or a timeout...
    job_thread.join(timeout=15)
    result = in_flight["result"]
    assert result["status"] == "FAILED" and "A1111" in result["error"]
    assert time.monotonic() - killed < 3
    # ...and so does the next one; the handler stays up to answer them.
    for _ in range(2):
        asked = time.monotonic()
        result = requests.post(api + "/runsync", json=txt2img_job(), timeout=30).json()
        assert result["status"] == "FAILED" and "A1111" in result["error"], result
        assert time.monotonic() - asked < 5
    assert run.proc.poll() is None


DRIVER = """
import asyncio, json, os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
sys.path.insert(0, os.path.join(os.environ["REPO_ROOT"], "src"))
import handler
from runpod.serverless.modules.rp_job import run_job

class Jobs(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        job = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        result = asyncio.run(run_job(handler.handler, job))
        data = json.dumps(result).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

print("driver ready", flush=True)
HTTPServer(("127.0.0.1", int(os.environ["DRIVER_PORT"])), Jobs).serve_forever()
"""


def test_after_a1111_dies_jobs_carry_refresh_worker(start_sh, standin_port, tmp_path):
    """What RunPod receives, through the SDK's own run_job: refresh_worker becomes stopPod."""
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    port = free_port()
    run = start_sh(
        WEBUI_URL=f"http://127.0.0.1:{standin_port}",
        WEBUI_CMD=standin_cmd(standin_port),
        HANDLER=gated(tmp_path, f"{PY} {driver}"),
        DRIVER_PORT=port,
        REPO_ROOT=ROOT,
    )
    run.wait_for("driver ready", timeout=HANDLER_UP_TIMEOUT)

    def job(job_id):
        body = {"id": job_id, **txt2img_job()}
        return requests.post(f"http://127.0.0.1:{port}", json=body, timeout=30).json()

    ok = job("before")
    assert ok["output"]["images"] and "stopPod" not in ok
    os.kill(run.webui_pid(), signal.SIGKILL)
    run.wait_for("EXITED with status 137", timeout=5)
    asked = time.monotonic()
    failed = job("after")
    assert time.monotonic() - asked < 5
    assert failed["stopPod"] is True
    assert "A1111" in failed["error"]


def test_exit_grace_stops_the_worker_after_a1111_dies(start_sh, standin_port, tmp_path):
    run = start_sh(
        WEBUI_URL=f"http://127.0.0.1:{standin_port}",
        WEBUI_CMD=standin_cmd(standin_port),
        WEBUI_EXIT_GRACE=0.5,
        HANDLER=gated(tmp_path, "sleep 60"),
    )
    run.wait_for("start gate open")
    time.sleep(0.2)
    os.kill(run.webui_pid(), signal.SIGKILL)
    killed = time.monotonic()
    # start.sh passes the TERM to the handler and exits with its status.
    assert run.wait_exit(5) == 128 + signal.SIGTERM
    assert 0.4 <= time.monotonic() - killed < 3
    assert "stopping the worker (WEBUI_EXIT_GRACE=0.5)" in run.output


# ----------------------------------------------------------------------------- GPU check


def fake_nvidia_smi(tmp_path: Path, output: str, status: int) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "nvidia-smi"
    script.write_text(f"#!/bin/sh\necho '{output}'\nexit {status}\n")
    script.chmod(0o755)
    return f"{bin_dir}:{os.environ['PATH']}"


def test_the_gpu_image_without_a_gpu_stops_with_a_clear_message(start_sh, tmp_path):
    run = start_sh(
        REQUIRE_GPU="",  # as the GPU image sets it: start.sh's default applies (required)
        PATH=fake_nvidia_smi(tmp_path, "No devices were found", 6),
        WEBUI_CMD="sleep 60",
    )
    assert run.wait_exit(5) == 1
    out = run.output
    assert "no NVIDIA GPU is visible to this container (nvidia-smi: No devices were found)" in out
    assert "docker run --gpus all" in out and "WEBUI_CPU=1" in out
    assert not Path(run.env["WEBUI_PID_FILE"]).exists(), "A1111 must not be started"


def test_a_visible_gpu_passes_the_check(start_sh, tmp_path, standin_port):
    run = start_sh(
        REQUIRE_GPU=1,
        PATH=fake_nvidia_smi(tmp_path, "GPU 0: NVIDIA GeForce RTX 4090 (UUID: GPU-x)", 0),
        WEBUI_URL=f"http://127.0.0.1:{standin_port}",
        WEBUI_CMD=standin_cmd(standin_port),
        HANDLER=gated(tmp_path, "true"),
    )
    assert run.wait_exit(20) == 0, run.output
    assert "GPU: GPU 0: NVIDIA GeForce RTX 4090" in run.output


def test_cpu_mode_skips_the_gpu_check(start_sh, tmp_path, standin_port):
    # `docker run -e WEBUI_CPU=1` on the GPU image, whose REQUIRE_GPU and WEBUI_DEVICE_ARGS
    # are empty: WEBUI_CPU=1 alone turns the check off.
    run = start_sh(
        WEBUI_CPU=1,
        REQUIRE_GPU="",
        WEBUI_DEVICE_ARGS="",
        PATH=fake_nvidia_smi(tmp_path, "No devices were found", 6),
        WEBUI_URL=f"http://127.0.0.1:{standin_port}",
        WEBUI_CMD=standin_cmd(standin_port),
        HANDLER=gated(tmp_path, "true"),
    )
    assert run.wait_exit(20) == 0, run.output
    assert "GPU check skipped" in run.output


# ----------------------------------------------------------------------------- the A1111 command

FAKE_LAUNCH = """
import json, os, runpy, sys
args = sys.argv[1:]
with open(os.environ["RECORD_FILE"], "w") as fh:
    json.dump({"script": sys.argv[0], "argv": args, "cwd": os.getcwd(),
               "ld_preload": os.environ.get("LD_PRELOAD")}, fh)
sys.argv = ["a1111_standin", "--host", args[args.index("--server-name") + 1],
            "--port", args[args.index("--port") + 1]]
runpy.run_module("tests.a1111_standin", run_name="__main__", alter_sys=True)
"""


@pytest.fixture
def fake_webui(tmp_path):
    """An A1111 directory whose launch.py records how it was started, then runs the stand-in."""
    webui = tmp_path / "webui"
    (webui / "models" / "Stable-diffusion").mkdir(parents=True)
    (webui / "launch.py").write_text(FAKE_LAUNCH)
    (webui / "models" / "Stable-diffusion" / "baked.safetensors").write_bytes(b"weights")
    (webui / "baked-model.txt").write_text("models/Stable-diffusion/baked.safetensors\n")
    return webui


def shared_library() -> str:
    for candidate in ("/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6"):
        if os.path.exists(candidate):
            return candidate
    pytest.skip("no libm.so.6 to preload")


def test_default_a1111_command_line(start_sh, fake_webui, tmp_path, standin_port):
    record = tmp_path / "launch.json"
    handler = tmp_path / "handler.py"
    handler.write_text("import os, sys\nprint('HANDLER', os.environ['WEBUI_URL'], sys.argv[1:])\n")
    run = start_sh(
        WEBUI_DIR=fake_webui,
        WEBUI_PYTHON=PY,
        WEBUI_URL=f"http://127.0.0.1:{standin_port}",
        WEBUI_EXTRA_ARGS="--medvram --api-log",
        RECORD_FILE=record,
        NO_TCMALLOC=0,
        TCMALLOC=shared_library(),
        HANDLER=gated(tmp_path, f"{PY} {handler}"),
        SERVE_LOCAL_API=1,
    )
    assert run.wait_exit(20) == 0, run.output
    launched = json.loads(record.read_text())
    argv = launched["argv"]
    assert launched["script"] == "launch.py" and launched["cwd"] == str(fake_webui)
    for flag in (
        "--nowebui",
        "--api",
        "--skip-prepare-environment",
        "--no-download-sd-model",
        "--no-hashing",
        "--opt-sdp-attention",
        "--medvram",
        "--api-log",
    ):
        assert flag in argv, flag
    assert argv[argv.index("--port") + 1] == str(standin_port)  # taken from WEBUI_URL
    assert argv[argv.index("--server-name") + 1] == "127.0.0.1"
    baked = fake_webui / "models" / "Stable-diffusion" / "baked.safetensors"
    assert argv[argv.index("--ckpt") + 1] == str(baked)
    assert "--use-cpu" not in argv
    assert launched["ld_preload"].split(":")[0] == shared_library()
    ports = [
        "--rp_serve_api",
        "--rp_api_host",
        "127.0.0.1",
        "--rp_api_port",
        run.env["RP_API_PORT"],
    ]
    assert f"HANDLER http://127.0.0.1:{standin_port} {ports!r}" in run.output


def test_cpu_mode_command_line_and_no_tcmalloc_when_missing(
    start_sh, fake_webui, tmp_path, standin_port
):
    record = tmp_path / "launch.json"
    run = start_sh(
        WEBUI_DIR=fake_webui,
        WEBUI_PYTHON=PY,
        WEBUI_HOST="127.0.0.1",
        WEBUI_PORT=standin_port,
        WEBUI_CPU=1,
        WEBUI_CKPT=fake_webui / "models" / "Stable-diffusion" / "baked.safetensors",
        RECORD_FILE=record,
        NO_TCMALLOC=0,
        TCMALLOC=tmp_path / "missing-libtcmalloc.so.4",
        HANDLER=gated(tmp_path, "true"),
    )
    assert run.wait_exit(20) == 0, run.output
    launched = json.loads(record.read_text())
    argv = launched["argv"]
    assert argv[argv.index("--use-cpu") + 1] == "all"
    assert "--no-half" in argv and "--skip-torch-cuda-test" in argv
    assert launched["ld_preload"] is None


def volume_with(tmp_path, *files: str) -> Path:
    """A network volume's models folder holding `files` (paths below it)."""
    volume = tmp_path / "runpod-volume" / "models"
    for file in files:
        (volume / file).parent.mkdir(parents=True, exist_ok=True)
        (volume / file).write_bytes(b"from the volume")
    return volume


def started_with_volume(start_sh, webui, tmp_path, port, volume, **env):
    """start.sh, through to the handler, with `volume` as the network volume's models folder."""
    run = start_sh(
        WEBUI_DIR=webui,
        WEBUI_PYTHON=PY,
        WEBUI_URL=f"http://127.0.0.1:{port}",
        RECORD_FILE=tmp_path / "launch.json",
        MODELS_VOLUME_DIR=volume,
        HANDLER=gated(tmp_path, "true"),
        **env,
    )
    assert run.wait_exit(20) == 0, run.output
    return run


def test_network_volume_models_are_linked_beside_the_baked_ones(
    start_sh, fake_webui, tmp_path, standin_port
):
    volume = tmp_path / "runpod-volume" / "models"
    for folder in ("checkpoints", "Lora", "loras", "VAE", "embeddings"):
        (volume / folder).mkdir(parents=True)
        (volume / folder / f"from-volume-{folder}.safetensors").write_bytes(b"x")
    started_with_volume(start_sh, fake_webui, tmp_path, standin_port, volume)
    expected = {
        "models/Stable-diffusion/runpod-volume-checkpoints": "checkpoints",
        "models/Lora/runpod-volume": "Lora",
        "models/Lora/runpod-volume-loras": "loras",
        "models/VAE/runpod-volume": "VAE",
        "embeddings/runpod-volume": "embeddings",
    }
    for link, folder in expected.items():
        path = fake_webui / link
        assert path.is_symlink() and path.resolve() == (volume / folder).resolve(), link
        assert (path / f"from-volume-{folder}.safetensors").is_file()
    # The baked checkpoint is still the one A1111 starts with.
    assert (fake_webui / "models/Stable-diffusion/baked.safetensors").is_file()
    assert not (fake_webui / "models/ControlNet").exists()


def test_network_volume_upscalers_restorers_and_detectors_are_linked_where_a1111_looks(
    start_sh, fake_webui, tmp_path, standin_port
):
    volume = volume_with(
        tmp_path,
        "ESRGAN/4x-UltraSharp.pth",
        "RealESRGAN/RealESRGAN_x2plus.pth",
        "SwinIR/SwinIR_4x.pth",
        "codeformer/codeformer-v0.1.0.pth",
        "GFPGAN/GFPGANv1.3.pth",
        "adetailer/hand_yolov8s.pt",
        "adetailer/face_yolov8n.pt",
    )
    baked = fake_webui / "models/adetailer/face_yolov8n.pt"
    baked.parent.mkdir(parents=True, exist_ok=True)
    baked.write_bytes(b"baked")
    run = started_with_volume(start_sh, fake_webui, tmp_path, standin_port, volume)
    for link, folder in {
        "models/ESRGAN/runpod-volume": "ESRGAN",
        "models/RealESRGAN/runpod-volume": "RealESRGAN",
        "models/SwinIR/runpod-volume": "SwinIR",
        "models/Codeformer/runpod-volume-codeformer": "codeformer",
        "models/GFPGAN/runpod-volume": "GFPGAN",
    }.items():
        path = fake_webui / link
        assert path.is_symlink() and path.resolve() == (volume / folder).resolve(), link
    # ADetailer does not look into linked folders: its files are linked one by one, and a
    # baked model keeps its name.
    hand = fake_webui / "models/adetailer/hand_yolov8s.pt"
    assert hand.is_symlink() and hand.read_bytes() == b"from the volume"
    assert not baked.is_symlink() and baked.read_bytes() == b"baked"
    assert "face_yolov8n.pt not linked" in run.output


def test_network_volume_interrogators_are_linked_where_a1111_and_openai_clip_look(
    start_sh, fake_webui, tmp_path, standin_port
):
    volume = volume_with(
        tmp_path,
        "BLIP/model_base_caption_capfilt_large.pth",
        "deepdanbooru/model-resnet_custom_v3.pt",
        "CLIP/ViT-L-14.pt",
    )
    home = tmp_path / "home"
    started_with_volume(start_sh, fake_webui, tmp_path, standin_port, volume, HOME=home)
    # A1111 walks these folders following links (modelloader.load_models).
    blip = fake_webui / "models/BLIP/runpod-volume"
    assert blip.is_symlink() and blip.resolve() == (volume / "BLIP").resolve()
    danbooru = fake_webui / "models/torch_deepdanbooru/runpod-volume-deepdanbooru"
    assert danbooru.is_symlink() and (danbooru / "model-resnet_custom_v3.pt").is_file()
    # openai CLIP opens <its cache>/ViT-L-14.pt and nothing else: the file itself is linked.
    clip = home / ".cache/clip/ViT-L-14.pt"
    assert clip.is_symlink() and clip.read_bytes() == b"from the volume"
    assert not (fake_webui / "clip").exists()
