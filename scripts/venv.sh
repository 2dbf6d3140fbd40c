#!/usr/bin/env bash
# Sourced by the other scripts: makes .venv if needed and installs a requirements file into it,
# saying what and where (pip itself is kept quiet). A stamp of the requirement files' contents
# skips pip when they have not changed since the last install.

# The file and those it includes with -r, one per line.
requirement_files() {
    local file=$1
    echo "$file"
    local included
    while read -r _ included; do
        requirement_files "$(dirname "$file")/$included"
    done < <(grep -E '^-r[[:space:]]' "$file")
}

ensure_venv() {
    local requirements=$1
    local me=scripts/${0##*/}
    if [ ! -x .venv/bin/python ]; then
        echo "$me: creating the virtual environment $PWD/.venv (${PYTHON:-python3} -m venv)"
        "${PYTHON:-python3}" -m venv .venv
    fi
    local files stamp digest packages started
    mapfile -t files < <(requirement_files "$requirements")
    stamp=.venv/.installed-${requirements//\//_}
    digest=$(cat "${files[@]}" | sha256sum)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ]; then
        return 0
    fi
    packages=$(grep -hvE '^[[:space:]]*(#|-|$)' "${files[@]}" | sed -E 's/[[:space:]]*([<>=!~;[].*)?$//' | paste -sd ' ' || true)
    echo "$me: installing $requirements into $PWD/.venv with pip: $packages" \
        "(the first time takes a minute or two)"
    started=$SECONDS
    .venv/bin/python -m pip install -q --disable-pip-version-check -r "$requirements"
    echo "$me: installed in $((SECONDS - started)) s"
    echo "$digest" >"$stamp"
}
