#!/usr/bin/env bash
# Build-time source helpers for the A1111 image: git checkouts, or `git archive`s of the same
# commits from a local directory (air-gapped builds).
#
#   clone_repositories.sh checkout URL REF DIR [EXPECTED_COMMIT]
#       Shallow-fetches one ref (tag, branch or commit) of URL into DIR and checks it out.
#   clone_repositories.sh repositories WEBUI_DIR
#       Clones the five repositories A1111 would clone into WEBUI_DIR/repositories on its first
#       start, each at the commit that A1111's own modules/launch_utils.py pins, so that the
#       image starts with --skip-prepare-environment and no network.
#   clone_repositories.sh mode
#       Prints "archives" when SOURCES_DIR holds source archives, else "git".
#
# With source archives (SOURCES_DIR holds *.tar.gz files, e.g. the image's a1111-sources build
# context), nothing is fetched: `checkout` unpacks the archive whose embedded commit id
# (`git get-tar-commit-id`, which `git archive` and GitHub's archive downloads both write) is
# EXPECTED_COMMIT, whatever the file is called, and fails if none is. No .git is made then:
# A1111 runs with --skip-prepare-environment and reads its version from CHANGELOG.md.
#
# Repository URLs and commits can be overridden with A1111's own variables (ASSETS_REPO,
# STABLE_DIFFUSION_REPO, STABLE_DIFFUSION_XL_REPO, K_DIFFUSION_REPO, BLIP_REPO and the matching
# *_COMMIT_HASH). Without an override the commit is read from launch_utils.py (so a different
# GIT_VERSION gets its own pins), falling back to the v1.9.3 pins below.
# Stability-AI/stablediffusion has been removed from GitHub: STABLE_DIFFUSION_REPO defaults to
# a public mirror that holds the same commit.
set -euo pipefail

GIT_RETRIES=${GIT_RETRIES:-4}
SOURCES_DIR=${SOURCES_DIR:-}

log() { printf 'clone_repositories: %s\n' "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}

# git with retries: GitHub occasionally drops connections during large builds.
git_retry() {
    local attempt=1
    until git "$@"; do
        if [ "$attempt" -ge "$GIT_RETRIES" ]; then
            return 1
        fi
        log "git $1 failed (attempt $attempt/$GIT_RETRIES); retrying in $((attempt * 5)) s"
        sleep "$((attempt * 5))"
        attempt=$((attempt + 1))
    done
}

archives() {
    [ -n "$SOURCES_DIR" ] && compgen -G "$SOURCES_DIR/*.tar.gz" >/dev/null
}

# The commit id a `git archive` carries in its pax header (empty if none). get-tar-commit-id
# reads only the first block, so gzip may be cut off early: that is not an error here.
archive_commit() {
    { gzip -dc "$1" 2>/dev/null || true; } | git get-tar-commit-id 2>/dev/null || true
}

# unpack_archive COMMIT DIR: the archive of COMMIT in SOURCES_DIR, unpacked into DIR.
unpack_archive() {
    local commit=$1 dir=$2 file found=""
    for file in "$SOURCES_DIR"/*.tar.gz; do
        if [ "$(archive_commit "$file")" = "$commit" ]; then
            found=$file
            break
        fi
    done
    [ -n "$found" ] || die "no archive in $SOURCES_DIR holds commit $commit"
    log "unpacking $(basename "$found") (commit $commit) -> $dir"
    mkdir -p "$dir"
    tar -xzf "$found" -C "$dir" --no-same-owner
    # GitHub's downloads put everything under <repo>-<commit>/; `git archive` does not.
    local top
    top=$(find "$dir" -mindepth 1 -maxdepth 1)
    if [ "$(printf '%s\n' "$top" | wc -l)" = 1 ] && [[ $top == *-"$commit" ]] && [ -d "$top" ]; then
        find "$top" -mindepth 1 -maxdepth 1 -exec mv -t "$dir" {} +
        rmdir "$top"
    fi
}

# checkout URL REF DIR [EXPECTED_COMMIT]
checkout() {
    local url=$1 ref=$2 dir=$3 expected=${4:-}
    [ -n "$url" ] && [ -n "$ref" ] && [ -n "$dir" ] || die "usage: checkout URL REF DIR"
    if [ -e "$dir/.git" ]; then
        die "$dir is already a git checkout"
    fi
    if archives; then
        if [ -z "$expected" ] && [[ $ref =~ ^[0-9a-f]{40}$ ]]; then
            expected=$ref
        fi
        [ -n "$expected" ] || die "$url@$ref: from source archives the expected commit is needed"
        unpack_archive "$expected" "$dir"
        return 0
    fi
    mkdir -p "$dir"
    git -C "$dir" init -q
    git -C "$dir" remote add origin "$url"
    log "fetching $url @ $ref -> $dir"
    # Fetching one ref at depth 1 works for tags, branches and (on GitHub) full commit ids.
    git_retry -C "$dir" fetch -q --depth 1 origin "$ref" || die "cannot fetch $ref from $url"
    git -C "$dir" -c advice.detachedHead=false checkout -q FETCH_HEAD
    if [ -n "$expected" ]; then
        local head
        head=$(git -C "$dir" rev-parse HEAD)
        [ "$head" = "$expected" ] || die "$dir is at $head, expected $expected"
    fi
}

# pinned_commit LAUNCH_UTILS VAR FALLBACK: the commit launch_utils.py pins for VAR.
pinned_commit() {
    local file=$1 var=$2 fallback=$3 found=""
    if [ -f "$file" ]; then
        found=$(grep -oE "'${var}'[[:space:]]*,[[:space:]]*[\"'][0-9a-f]{40}[\"']" "$file" |
            grep -oE '[0-9a-f]{40}' | head -n 1 || true)
    fi
    if [ -z "$found" ]; then
        log "WARNING: no pin for $var in $file; using the v1.9.3 pin $fallback"
        found=$fallback
    elif [ "$found" != "$fallback" ]; then
        log "note: this A1111 pins $var=$found (v1.9.3 pinned $fallback)"
    fi
    printf '%s\n' "$found"
}

repositories() {
    local webui=$1
    local launch_utils="$webui/modules/launch_utils.py"
    [ -d "$webui" ] || die "no A1111 directory at $webui"
    [ -f "$launch_utils" ] || log "WARNING: $launch_utils not found; using the v1.9.3 pins"

    # name|url|commit variable|v1.9.3 commit|url variable
    local specs=(
        "stable-diffusion-webui-assets|https://github.com/AUTOMATIC1111/stable-diffusion-webui-assets.git|ASSETS_COMMIT_HASH|6f7db241d2f8ba7457bac5ca9753331f0c266917|ASSETS_REPO"
        "stable-diffusion-stability-ai|https://github.com/w-e-w/stablediffusion.git|STABLE_DIFFUSION_COMMIT_HASH|cf1d67a6fd5ea1aa600c4df58e5b47da45f6bdbf|STABLE_DIFFUSION_REPO"
        "generative-models|https://github.com/Stability-AI/generative-models.git|STABLE_DIFFUSION_XL_COMMIT_HASH|45c443b316737a4ab6e40413d7794a7f5657c19f|STABLE_DIFFUSION_XL_REPO"
        "k-diffusion|https://github.com/crowsonkb/k-diffusion.git|K_DIFFUSION_COMMIT_HASH|ab527a9a6d347f364e3d185ba6d714e22d80cb3c|K_DIFFUSION_REPO"
        "BLIP|https://github.com/salesforce/BLIP.git|BLIP_COMMIT_HASH|48211a1594f1321b00f14c9f7a5b4813144b2fb9|BLIP_REPO"
    )
    local spec name url commit_var fallback url_var commit
    mkdir -p "$webui/repositories"
    for spec in "${specs[@]}"; do
        IFS='|' read -r name url commit_var fallback url_var <<<"$spec"
        url=${!url_var:-$url}
        commit=${!commit_var:-}
        if [ -z "$commit" ]; then
            commit=$(pinned_commit "$launch_utils" "$commit_var" "$fallback")
        fi
        # The shallow .git stays: A1111 compares its HEAD with the pin if it ever runs its own
        # prepare step (without --skip-prepare-environment) and then finds nothing to do.
        checkout "$url" "$commit" "$webui/repositories/$name" "$commit"
    done
    log "all repositories are in $webui/repositories"
}

case "${1:-}" in
mode)
    if archives; then echo archives; else echo git; fi
    ;;
checkout)
    shift
    checkout "$@"
    ;;
repositories)
    shift
    [ $# -eq 1 ] || die "usage: $0 repositories WEBUI_DIR"
    repositories "$1"
    ;;
*)
    die "usage: $0 checkout URL REF DIR [COMMIT] | repositories WEBUI_DIR | mode"
    ;;
esac
