#!/usr/bin/env bash
# Sourced by the other scripts: makes .venv if needed and installs a requirements file into it.
ensure_venv() {
    local requirements=$1
    if [ ! -x .venv/bin/python ]; then
        "${PYTHON:-python3}" -m venv .venv
    fi
    .venv/bin/python -m pip install -q --disable-pip-version-check -r "$requirements"
}
