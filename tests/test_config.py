"""The environment: every variable parsed in one place (sdworker.config), one message shape
(`NAME=value: allowed ...`), and a worker that stops with that one line, never a traceback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from sdworker.config import (
    BUCKET_VARS,
    RUNPOD_LOG_LEVELS,
    VARIABLES,
    Bucket,
    ConfigError,
    Settings,
)
from tests.conftest import REPO_ROOT

# A bad value for every variable that can have one; a new variable needs its case here.
BAD = {
    "WEBUI_URL": "localhost:3000",
    "WEBUI_READY_TIMEOUT": "ten",
    "WEBUI_CONNECT_TIMEOUT": "0",
    "WEBUI_READ_TIMEOUT": "-5",
    "JOB_TIMEOUT": "abc",
    "INTERRUPT_GRACE": "inf",
    "PROGRESS_INTERVAL": "nan",
    "FAILURE_BURST": "2.5",
    "MAX_DIMENSION": "500",
    "MAX_IMAGE_BYTES": "20MB",
    "MAX_RESULT_BYTES": "0",
    "IMAGE_URL_TIMEOUT": "soon",
    "LOG_LEVEL": "loud",
    "RUNPOD_LOG_LEVEL": "verbose",
    "BUCKET_ENDPOINT_URL": "s3.example.com",
    "BUCKET_URL_EXPIRY": "week",
}
FREE_TEXT = {"BUCKET_ACCESS_KEY_ID", "BUCKET_SECRET_ACCESS_KEY", "BUCKET_NAME", "WORKER_START_GATE"}


def env_with(**variables: str) -> dict[str, str]:
    """This process's environment without any worker variable, plus these."""
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    return {**env, **variables}


def test_every_variable_has_a_bad_value_case():
    assert set(BAD) | FREE_TEXT == set(VARIABLES)


@pytest.mark.parametrize(("name", "value"), BAD.items())
def test_a_bad_value_names_the_variable_the_value_and_what_is_allowed(name, value):
    with pytest.raises(ConfigError) as info:
        Settings.from_env({name: value})
    message = str(info.value)
    assert message.startswith(f"{name}={value}: allowed: "), message
    assert len(message) > len(f"{name}={value}: allowed: ") + 5


def test_all_bad_values_are_reported_at_once():
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"JOB_TIMEOUT": "abc", "MAX_DIMENSION": "500", "LOG_LEVEL": "INFO"})
    assert "JOB_TIMEOUT=abc" in str(info.value) and "MAX_DIMENSION=500" in str(info.value)
    assert "\n" not in str(info.value)


def test_good_values_are_parsed():
    settings = Settings.from_env(
        {
            "WEBUI_URL": "http://10.0.0.5:7860/",
            "JOB_TIMEOUT": "120.5",
            "MAX_DIMENSION": "1024",
            "FAILURE_BURST": "5",
            "LOG_LEVEL": "debug",
            "RUNPOD_LOG_LEVEL": "warn",
            "MAX_RESULT_BYTES": "  ",  # blank counts as unset
        }
    )
    assert settings.webui_url == "http://10.0.0.5:7860"
    assert (settings.job_timeout, settings.max_dimension, settings.failure_burst) == (
        120.5,
        1024,
        5,
    )
    assert (settings.log_level, settings.runpod_log_level) == ("DEBUG", "WARN")
    assert settings.max_result_bytes == Settings.max_result_bytes
    assert settings.bucket is None and settings.bucket_problem is None


def test_a_whole_bucket():
    values = {
        "BUCKET_ENDPOINT_URL": "https://s3.example.com",
        "BUCKET_ACCESS_KEY_ID": "id",
        "BUCKET_SECRET_ACCESS_KEY": "secret",
        "BUCKET_NAME": "images",
        "BUCKET_URL_EXPIRY": "3600",
    }
    settings = Settings.from_env(values)
    assert settings.bucket == Bucket("https://s3.example.com", "id", "secret", "images", 3600)
    assert "secret" not in settings.summary() and "'images'" in settings.summary()


@pytest.mark.parametrize(
    "given",
    [
        ["BUCKET_NAME"],
        ["BUCKET_ENDPOINT_URL", "BUCKET_NAME"],
        ["BUCKET_ACCESS_KEY_ID", "BUCKET_SECRET_ACCESS_KEY", "BUCKET_ENDPOINT_URL"],
    ],
)
def test_a_half_configured_bucket_names_what_is_missing(given):
    values = {name: "http://s3.example.com" for name in given}
    settings = Settings.from_env(values)
    assert settings.bucket is None
    missing = re.search(r"but (.*) (is|are) not", settings.bucket_problem).group(1)
    assert set(missing.split(", ")) == set(BUCKET_VARS) - set(given)


def test_the_sdk_log_levels_are_the_sdks_own():
    from runpod.serverless.modules import rp_logger

    assert tuple(rp_logger.LOG_LEVELS) == RUNPOD_LOG_LEVELS


def test_nothing_else_in_the_worker_reads_the_environment():
    readers = []
    for path in (REPO_ROOT / "src").rglob("*.py"):
        for line in path.read_text().splitlines():
            if re.search(r"os\.environ|getenv", line) and path.name != "config.py":
                readers.append(f"{path.relative_to(REPO_ROOT)}: {line.strip()}")
    # The handler only presets the SDK's level before the SDK is imported.
    assert readers == ['src/handler.py: os.environ.setdefault("RUNPOD_LOG_LEVEL", "INFO")']


def start_handler(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "src/handler.py", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "variables",
    [
        {"JOB_TIMEOUT": "abc"},
        {"BUCKET_URL_EXPIRY": "week"},
        {"RUNPOD_LOG_LEVEL": "verbose"},  # the SDK itself would fail at import
        {"LOG_LEVEL": "loud", "MAX_DIMENSION": "500"},
    ],
    ids=lambda v: ",".join(v),
)
def test_the_worker_stops_with_one_clear_line(variables):
    proc = start_handler(env_with(**variables), "--rp_serve_api")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert lines[0].startswith("worker not started: ")
    for name, value in variables.items():
        assert f"{name}={value}: allowed: " in lines[0]


def test_a_half_configured_bucket_warns_at_start_and_refuses_url_output(a1111):
    job = {"input": {"prompt": "x", "width": 64, "height": 64, "steps": 1, "output": "url"}}
    env = env_with(WEBUI_URL=a1111.url, WEBUI_READY_TIMEOUT="10", BUCKET_NAME="images")
    proc = start_handler(env, "--test_input", json.dumps(job))
    out = proc.stdout + proc.stderr
    assert re.search(r"WARNING sdworker: bucket upload is half configured: BUCKET_NAME is set", out)
    assert "worker starting: A1111 at " + a1111.url in out
    assert "BUCKET_ENDPOINT_URL, BUCKET_ACCESS_KEY_ID, BUCKET_SECRET_ACCESS_KEY are not" in out
    assert proc.returncode == 1 and "Traceback" not in out
