#!/usr/bin/env python3
"""Fetch and verify the model files that a model manifest lists (Python standard library only).

A manifest (models/<MODEL_NAME>/manifest.json) lists every file the image bakes in: where it is
downloaded from, which A1111 folder it goes to, and its sha256. This script

- validates the manifest (an entry without a sha256 is refused unless it is explicitly marked
  "sha256_unverified": true with an "unverified_reason"; such an entry may still carry a
  "sha256_prefix", e.g. the 10-digit short hash A1111 and Civitai show, which is checked);
- uses a file already present in the model's folder as it is (no download), still checking its
  sha256 when the manifest has one; other weight files found there are copied as they are;
- downloads the rest with retries (resuming a cut transfer where the server allows it);
- verifies every sha256 (and size, when given) and fails on any mismatch, leaving nothing
  half-written behind; a file with no full sha256 must at least be a whole .safetensors file
  (so a login page or a cut download is never baked as a checkpoint);
- writes the files into an A1111-shaped tree: models/Stable-diffusion, models/Lora, models/VAE,
  models/ControlNet and embeddings, plus baked-model.txt (the checkpoint A1111 starts with) and
  baked-model.json (what was baked, with every digest). A tools manifest (models/_tools: no
  checkpoint) lays out upscaler, face-restoration, interrogator and ADetailer weights the same
  way, recorded in baked-tools.json; its large optional entries need --include-optional. A
  Hugging Face cache entry (BLIP's tokenizer) goes to hf-home/hub/models--<repo>/ as a Hub
  download of the commit its URL names (snapshots/<commit>/<file> and refs/main), for the
  image to copy into its HF_HOME.

Used by the Dockerfile's download stage and by the tests:

    python docker/fetch_models.py fetch --manifest models/dreamshaper/manifest.json \
        --local-dir models/dreamshaper --dest /out [--cache-dir DIR] [--strict]
    python docker/fetch_models.py check models/*/manifest.json
    python docker/fetch_models.py verify --manifest M --root /stable-diffusion-webui

Exit status: 0 success, 1 a download or checksum failure, 2 an invalid manifest or usage.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Manifest folder -> where A1111 reads it, relative to the A1111 directory.
FOLDERS = {
    "Stable-diffusion": "models/Stable-diffusion",
    "Lora": "models/Lora",
    "VAE": "models/VAE",
    "ControlNet": "models/ControlNet",
    "embeddings": "embeddings",
    # The "tools" A1111 and ADetailer would otherwise download on first use (models/_tools).
    "ESRGAN": "models/ESRGAN",
    "RealESRGAN": "models/RealESRGAN",
    "SwinIR": "models/SwinIR",
    "DAT": "models/DAT",
    "ScuNET": "models/ScuNET",
    "Codeformer": "models/Codeformer",
    "GFPGAN": "models/GFPGAN",
    "BLIP": "models/BLIP",
    "torch_deepdanbooru": "models/torch_deepdanbooru",
    # openai CLIP's own download folder; the Dockerfile moves it to ~/.cache/clip.
    "clip": "models/clip",
    "adetailer": "models/adetailer",
    # A1111's CLIP interrogator reads its category lists from interrogate/ in its working folder.
    "interrogate": "interrogate",
    # BLIP's tokenizer, which transformers reads offline from the Hugging Face cache: laid out
    # as a Hub download (snapshots/<revision>/, refs/main); hf-home/ is the image's HF_HOME.
    "bert-base-uncased": "hf-home/hub/models--bert-base-uncased",
}
# Folders in the Hugging Face cache's layout -> the Hub repository their URLs must come from.
HF_REPOS = {"bert-base-uncased": "bert-base-uncased"}
HF_HOME_PREFIX = "hf-home/"
# The kind an entry declares must match its folder (the first folder is the default kind's).
KIND_FOLDERS = {
    "checkpoint": ("Stable-diffusion",),
    "lora": ("Lora",),
    "vae": ("VAE",),
    "controlnet": ("ControlNet",),
    "embedding": ("embeddings",),
    "upscaler": ("ESRGAN", "RealESRGAN", "SwinIR", "DAT", "ScuNET"),
    "face_restorer": ("Codeformer", "GFPGAN"),
    "interrogator": ("BLIP", "torch_deepdanbooru", "clip", "interrogate", "bert-base-uncased"),
    "detector": ("adetailer",),
}
WEIGHT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
TOP_KEYS = {"name", "title", "description", "base_model", "checkpoint", "files", "notes"}
ENTRY_KEYS = {
    "target",
    "kind",
    "url",
    "sha256",
    "size",
    "sha256_unverified",
    "unverified_reason",
    "sha256_prefix",
    "prefix_source",
    "auth_env",
    "optional",
    "source",
    "license",
    "note",
}
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
# A1111's "Model hash" and Civitai's AutoV2 are the first 10 hex digits of the file's sha256.
SHA256_PREFIX_RE = re.compile(r"^[0-9a-f]{10,63}$")
# Bounds the JSON header read from a .safetensors file (real headers are well under 1 MiB).
SAFETENSORS_MAX_HEADER = 100 * 2**20
FILENAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
ENV_NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")
CHUNK = 4 * 1024 * 1024
USER_AGENT = "runpod-worker-a1111-fetch-models/1"
# HTTP statuses worth another try; any other 4xx is final (wrong URL, missing token...).
RETRY_STATUSES = {408, 409, 425, 429, 500, 502, 503, 504}
BAKED_TXT = "baked-model.txt"
BAKED_JSON = "baked-model.json"
BAKED_TOOLS_JSON = "baked-tools.json"


class ManifestError(ValueError):
    """The manifest is malformed or incomplete."""


class FetchError(RuntimeError):
    """A file could not be downloaded."""


class ChecksumError(RuntimeError):
    """A file does not have the sha256 (or size) that the manifest says it must have."""


@dataclass(frozen=True)
class Entry:
    target: str
    kind: str
    url: str
    sha256: str | None
    size: int | None = None
    unverified_reason: str | None = None
    sha256_prefix: str | None = None
    auth_env: str | None = None
    optional: bool = False

    @property
    def folder(self) -> str:
        return self.target.split("/", 1)[0]

    @property
    def filename(self) -> str:
        return self.target.split("/", 1)[1]

    @property
    def hf_revision(self) -> str | None:
        """The Hub commit a Hugging Face cache entry is pinned to (from its URL)."""
        if self.folder not in HF_REPOS:
            return None
        return _hf_url_revision(self.url, HF_REPOS[self.folder], self.filename)

    @property
    def a1111_path(self) -> str:
        """Path of this file relative to the A1111 directory (hf-home/...: to HF_HOME's parent)."""
        if self.hf_revision:
            return f"{FOLDERS[self.folder]}/snapshots/{self.hf_revision}/{self.filename}"
        return f"{FOLDERS[self.folder]}/{self.filename}"

    @property
    def verified(self) -> bool:
        return self.sha256 is not None


@dataclass(frozen=True)
class Manifest:
    name: str
    checkpoint: str | None  # None: a tools manifest, with no checkpoint to start A1111 with
    entries: tuple[Entry, ...]
    path: Path | None = None
    title: str = ""

    def entry(self, target: str) -> Entry | None:
        return next((e for e in self.entries if e.target == target), None)


@dataclass
class Report:
    manifest: Manifest
    files: list[dict[str, Any]] = field(default_factory=list)

    def add(self, entry: Entry | None, path: Path, digest: str | None, how: str) -> None:
        self.files.append(
            {
                "target": entry.target if entry else None,
                "path": str(path),
                "sha256": digest,
                "verified": bool(entry and entry.verified),
                "how": how,
            }
        )


def log(message: str) -> None:
    print(f"fetch_models: {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- manifest


def _hf_url_revision(url: str, repo: str, filename: str) -> str | None:
    match = re.fullmatch(
        rf"https://huggingface\.co/{re.escape(repo)}/resolve/([0-9a-f]{{40}})/{re.escape(filename)}",
        url,
    )
    return match.group(1) if match else None


def _entry(raw: Any, index: int) -> Entry:
    where = f"files[{index}]"
    if not isinstance(raw, dict):
        raise ManifestError(f"{where}: must be an object")
    unknown = set(raw) - ENTRY_KEYS
    if unknown:
        raise ManifestError(
            f"{where}: unknown keys {sorted(unknown)}; allowed {sorted(ENTRY_KEYS)}"
        )
    target = raw.get("target")
    if not isinstance(target, str) or target.count("/") != 1:
        raise ManifestError(f"{where}: target must be '<folder>/<file name>', got {target!r}")
    folder, filename = target.split("/")
    where = f"{where} ({target})"
    if folder not in FOLDERS:
        raise ManifestError(f"{where}: folder must be one of {sorted(FOLDERS)}")
    if not FILENAME_RE.match(filename) or ".." in filename:
        raise ManifestError(f"{where}: unsafe file name {filename!r}")
    kind = raw.get("kind", next(k for k, f in KIND_FOLDERS.items() if folder in f))
    if folder not in KIND_FOLDERS.get(kind, ()):
        raise ManifestError(f"{where}: kind {kind!r} does not belong in folder {folder!r}")
    url = raw.get("url")
    if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in ("https", "http"):
        raise ManifestError(f"{where}: url must be an http(s) URL, got {url!r}")
    if folder in HF_REPOS and not _hf_url_revision(url, HF_REPOS[folder], filename):
        raise ManifestError(
            f"{where}: url must be https://huggingface.co/{HF_REPOS[folder]}/resolve/"
            f"<40-digit commit>/{filename} (the cache is laid out by that commit), got {url!r}"
        )
    sha = raw.get("sha256")
    marked = raw.get("sha256_unverified", False)
    reason = raw.get("unverified_reason")
    if not isinstance(marked, bool):
        raise ManifestError(f"{where}: sha256_unverified must be true or false")
    prefix = raw.get("sha256_prefix")
    if sha is None:
        if not marked or not isinstance(reason, str) or not reason.strip():
            raise ManifestError(
                f"{where}: no sha256. Add the published sha256, or mark the entry "
                '"sha256_unverified": true with an "unverified_reason" saying why'
            )
        if prefix is not None:
            if not isinstance(prefix, str) or not SHA256_PREFIX_RE.match(prefix.lower()):
                raise ManifestError(
                    f"{where}: sha256_prefix must be 10 to 63 hex digits, got {prefix!r}"
                )
            if not isinstance(raw.get("prefix_source"), str) or not raw["prefix_source"].strip():
                raise ManifestError(f"{where}: sha256_prefix needs a prefix_source saying where")
            prefix = prefix.lower()
    else:
        if prefix is not None:
            raise ManifestError(f"{where}: has a sha256, so sha256_prefix says nothing more")
        if marked:
            raise ManifestError(f"{where}: has a sha256 but is marked sha256_unverified")
        if not isinstance(sha, str) or not SHA256_RE.match(sha.lower()):
            raise ManifestError(f"{where}: sha256 must be 64 hex digits, got {sha!r}")
        sha = sha.lower()
    size = raw.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size <= 0):
        raise ManifestError(f"{where}: size must be a positive integer (bytes)")
    auth_env = raw.get("auth_env")
    if auth_env is not None and (not isinstance(auth_env, str) or not ENV_NAME_RE.match(auth_env)):
        raise ManifestError(f"{where}: auth_env must name an environment variable")
    optional = raw.get("optional", False)
    if not isinstance(optional, bool):
        raise ManifestError(f"{where}: optional must be true or false")
    return Entry(
        target=target,
        kind=kind,
        url=url,
        sha256=sha,
        size=size,
        unverified_reason=reason if sha is None else None,
        sha256_prefix=prefix,
        auth_env=auth_env,
        optional=optional,
    )


def parse_manifest(data: Any, path: Path | None = None) -> Manifest:
    if not isinstance(data, dict):
        raise ManifestError("the manifest must be a JSON object")
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise ManifestError(f"unknown top-level keys {sorted(unknown)}; allowed {sorted(TOP_KEYS)}")
    name = data.get("name")
    if not isinstance(name, str) or not FILENAME_RE.match(name):
        raise ManifestError(f"name must be a simple identifier, got {name!r}")
    files = data.get("files")
    if not isinstance(files, list) or not files:
        raise ManifestError("files must be a non-empty list")
    entries = tuple(_entry(raw, i) for i, raw in enumerate(files))
    targets = [e.target for e in entries]
    duplicates = sorted({t for t in targets if targets.count(t) > 1})
    if duplicates:
        raise ManifestError(f"duplicate targets: {duplicates}")
    for folder in HF_REPOS:
        revisions = sorted({e.hf_revision for e in entries if e.folder == folder})
        if len(revisions) > 1:
            raise ManifestError(f"{folder}: its files must share one Hub commit, got {revisions}")
    title = data.get("title", "")
    checkpoint = data.get("checkpoint")
    if checkpoint is None and not any(e.kind == "checkpoint" for e in entries):
        # A tools manifest (upscalers, face restorers...): baked beside a model's files.
        return Manifest(name=name, checkpoint=None, entries=entries, path=path, title=title)
    match = next((e for e in entries if e.target == checkpoint), None)
    if match is None or match.kind != "checkpoint" or match.optional:
        raise ManifestError(
            f"checkpoint must name a non-optional checkpoint entry's target, got {checkpoint!r}"
        )
    return Manifest(name=name, checkpoint=checkpoint, entries=entries, path=path, title=title)


def load_manifest(path: str | os.PathLike) -> Manifest:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read manifest: {exc}") from exc
    try:
        return parse_manifest(data, path)
    except ManifestError as exc:
        raise ManifestError(f"{path}: {exc}") from None


# ----------------------------------------------------------------------------- checksums


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: str | os.PathLike, entry: Entry) -> str:
    """Check size and sha256 against the entry; return the file's sha256."""
    path = Path(path)
    actual_size = path.stat().st_size
    if entry.size is not None and actual_size != entry.size:
        raise ChecksumError(
            f"{entry.target}: size mismatch for {path}: expected {entry.size} bytes, "
            f"got {actual_size}"
        )
    digest = sha256_file(path)
    if entry.sha256 is not None and digest != entry.sha256:
        raise ChecksumError(
            f"{entry.target}: sha256 mismatch for {path}: expected {entry.sha256}, got {digest}"
        )
    if entry.sha256 is None:
        _check_unpinned(path, entry, digest)
    return digest


def _check_unpinned(path: Path, entry: Entry, digest: str) -> None:
    """What can still be checked of a file whose full sha256 is not known."""
    if entry.sha256_prefix and not digest.startswith(entry.sha256_prefix):
        raise ChecksumError(
            f"{entry.target}: sha256 prefix mismatch for {path}: expected "
            f"{entry.sha256_prefix}..., got {digest}. Either the URL serves another file "
            "(another version?) or the recorded prefix is wrong: compare with the publisher's page"
        )
    if entry.target.endswith(".safetensors"):
        problem = safetensors_problem(path)
        if problem:
            raise ChecksumError(
                f"{entry.target}: {path} is not a whole .safetensors file: {problem}"
            )


def safetensors_problem(path: Path) -> str | None:
    """Why `path` is not a complete safetensors file, or None when its layout is whole.

    The layout (an 8-byte little-endian header length, a JSON header, then the tensor bytes
    the header's data_offsets cover exactly) is checked by hand because this script runs on a
    bare Python with no packages.
    """
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            return f"only {size} bytes"
        length = int.from_bytes(head, "little")
        if not 2 <= length <= min(SAFETENSORS_MAX_HEADER, size - 8):
            return f"header length {length} does not fit a file of {size} bytes"
        raw = fh.read(length)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "its header is not JSON (an HTML page or an error message?)"
    if not isinstance(header, dict):
        return "its header is not a JSON object"
    try:
        end = max(
            (int(t["data_offsets"][1]) for k, t in header.items() if k != "__metadata__"),
            default=0,
        )
    except (TypeError, KeyError, IndexError, ValueError):
        return "its header has a tensor without data_offsets"
    if 8 + length + end != size:
        return f"the header describes {8 + length + end} bytes, the file has {size}"
    return None


# ----------------------------------------------------------------------------- downloads


def _opener() -> urllib.request.OpenerDirector:
    # urllib follows redirects with the request's ordinary headers (Range, User-Agent) but not
    # its "unredirected" ones: the token is sent only to the manifest's host, never to the
    # pre-signed storage URLs that Hugging Face and Civitai redirect to.
    return urllib.request.build_opener()


def _token(entry: Entry, secrets_dir: Path) -> str | None:
    if not entry.auth_env:
        return None
    value = os.environ.get(entry.auth_env, "").strip()
    if not value:
        secret = secrets_dir / entry.auth_env
        if secret.is_file():
            value = secret.read_text(encoding="utf-8").strip()
    return value or None


def _transfer(
    opener: urllib.request.OpenerDirector,
    entry: Entry,
    part: Path,
    *,
    timeout: float,
    token: str | None,
    progress_every: int,
) -> None:
    """One attempt: (re)start or resume the download into `part`. Raises on any failure."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(entry.url, headers={"User-Agent": USER_AGENT})
    if token:
        request.add_unredirected_header("Authorization", f"Bearer {token}")
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            # Nothing left to send: the part file may already be complete; the checksum decides.
            return
        raise
    with response:
        status = getattr(response, "status", 200)
        if have and status != 206:
            have = 0  # the server ignored the range: start over
        expected = response.headers.get("Content-Length")
        expected = int(expected) if expected and expected.isdigit() else None
        received = 0
        next_report = progress_every
        with open(part, "ab" if have else "wb") as out:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                received += len(chunk)
                if progress_every and received >= next_report:
                    log(f"{entry.target}: {(have + received) / 2**20:.0f} MiB")
                    next_report += progress_every
        if expected is not None and received < expected:
            raise http.client.IncompleteRead(b"", expected - received)


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code in RETRY_STATUSES
    return isinstance(
        exc,
        (
            urllib.error.URLError,
            ConnectionError,
            TimeoutError,
            socket.timeout,
            http.client.HTTPException,
        ),
    )


def download(
    entry: Entry,
    dest: Path,
    *,
    retries: int = 5,
    timeout: float = 60.0,
    backoff: float = 2.0,
    secrets_dir: Path = Path("/run/secrets"),
    progress_every: int = 256 * 2**20,
    opener: urllib.request.OpenerDirector | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Download `entry` to `dest` (atomically) and verify it; return its sha256.

    Network failures and 5xx/429 answers are retried up to `retries` times with exponential
    backoff, resuming from what was already received. A checksum mismatch is final once the
    file was downloaded from the start (a resumed file that does not match is fetched once more
    from scratch). Any failure leaves neither `dest` nor its partial file behind.
    """
    opener = opener or _opener()
    token = _token(entry, secrets_dir)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    part.unlink(missing_ok=True)
    attempt = 0
    fresh_retry_done = False
    try:
        while True:
            resumed = part.exists() and part.stat().st_size > 0
            try:
                _transfer(
                    opener,
                    entry,
                    part,
                    timeout=timeout,
                    token=token,
                    progress_every=progress_every,
                )
            except Exception as exc:
                if not _retryable(exc) or attempt >= retries:
                    raise FetchError(_describe_failure(entry, exc, attempt, token)) from exc
                attempt += 1
                delay = min(backoff * 2 ** (attempt - 1), 60.0)
                log(f"{entry.target}: {exc!r}; retry {attempt}/{retries} in {delay:g} s")
                sleep(delay)
                continue
            try:
                digest = verify_file(part, entry)
            except ChecksumError:
                if resumed and not fresh_retry_done:
                    log(f"{entry.target}: resumed file does not match; downloading it again")
                    fresh_retry_done = True
                    part.unlink()
                    continue
                raise
            os.replace(part, dest)
            return digest
    finally:
        part.unlink(missing_ok=True)


def _describe_failure(entry: Entry, exc: BaseException, attempt: int, token: str | None) -> str:
    text = f"{entry.target}: download from {entry.url} failed"
    if attempt:
        text += f" after {attempt} retries"
    if isinstance(exc, urllib.error.HTTPError):
        text += f": HTTP {exc.code} {exc.reason}"
        if exc.code in (401, 403) and entry.auth_env and not token:
            text += (
                f" (this host may need a token: set {entry.auth_env}, e.g. as a build secret "
                f"--secret id={entry.auth_env},env={entry.auth_env})"
            )
    else:
        text += f": {exc!r}"
    return text + (
        f". Alternatively put the file at models/<MODEL_NAME>/{entry.target}: "
        "files already there are used as they are"
    )


# ----------------------------------------------------------------------------- fetch


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)


def _from_cache(entry: Entry, cache_dir: Path | None, dest: Path) -> str | None:
    if cache_dir is None or entry.sha256 is None:
        return None
    cached = cache_dir / entry.sha256
    if not cached.is_file():
        return None
    try:
        digest = verify_file(cached, entry)
    except ChecksumError:
        log(f"{entry.target}: cached copy is damaged; dropping it")
        cached.unlink(missing_ok=True)
        return None
    _copy(cached, dest)
    return digest


def _to_cache(entry: Entry, cache_dir: Path | None, src: Path) -> None:
    if cache_dir is None or entry.sha256 is None:
        return
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        _copy(src, cache_dir / entry.sha256)
    except OSError as exc:  # a cache is an optimisation only
        log(f"could not cache {entry.target}: {exc}")


def _local_extras(manifest: Manifest, local_dir: Path) -> list[tuple[str, Path]]:
    """Weight files in the model folder that the manifest does not list."""
    listed = {e.target for e in manifest.entries}
    extras = []
    for folder in (f for f in FOLDERS if f not in HF_REPOS):
        base = local_dir / folder
        if not base.is_dir():
            continue
        for path in sorted(base.iterdir()):
            target = f"{folder}/{path.name}"
            if path.is_file() and path.suffix in WEIGHT_SUFFIXES and target not in listed:
                extras.append((target, path))
    return extras


def fetch(
    manifest: Manifest,
    dest: str | os.PathLike,
    *,
    local_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    strict: bool = False,
    include_optional: bool = False,
    retries: int = 5,
    timeout: float = 60.0,
    backoff: float = 2.0,
    secrets_dir: str | os.PathLike = "/run/secrets",
    opener: urllib.request.OpenerDirector | None = None,
) -> Report:
    dest = Path(dest)
    local = Path(local_dir) if local_dir else None
    cache = Path(cache_dir) if cache_dir else None
    if strict:
        unverified = [e.target for e in manifest.entries if not e.verified]
        if unverified:
            raise ChecksumError(
                f"strict mode: entries without a sha256 are not allowed: {unverified}"
            )
    report = Report(manifest)
    for entry in manifest.entries:
        out = dest / entry.a1111_path
        present = local / entry.target if local else None
        if entry.optional and not include_optional and not (present and present.is_file()):
            log(f"{entry.target}: optional, skipped")
            continue
        if present is not None and present.is_file():
            digest = verify_file(present, entry)
            _copy(present, out)
            how = "local"
        elif (digest := _from_cache(entry, cache, out)) is not None:
            how = "cache"
        else:
            log(f"{entry.target}: downloading {entry.url}")
            digest = download(
                entry,
                out,
                retries=retries,
                timeout=timeout,
                backoff=backoff,
                secrets_dir=Path(secrets_dir),
                opener=opener,
            )
            _to_cache(entry, cache, out)
            how = "download"
        if entry.verified:
            log(f"{entry.target}: sha256 OK ({how})")
        else:
            partial = ""
            if entry.sha256_prefix:
                partial = f"sha256 starts with {entry.sha256_prefix} as expected; "
            log(
                f"{entry.target}: UNVERIFIED ({entry.unverified_reason}); {partial}its sha256 is "
                f"{digest}: check it against the publisher and pin it in the manifest"
            )
        report.add(entry, out, digest, how)
    if local is not None:
        for target, path in _local_extras(manifest, local):
            folder, name = target.split("/")
            out = dest / FOLDERS[folder] / name
            _copy(path, out)
            log(f"{target}: not in the manifest; copied as it is (not verified)")
            report.add(None, out, None, "local-extra")
    _write_hf_refs(manifest, dest)
    _write_baked(manifest, dest, report)
    return report


def _write_hf_refs(manifest: Manifest, dest: Path) -> None:
    """refs/main, through which transformers finds a snapshot in the cache when offline, and
    the cache's format version (without it, offline transformers warns that the cache is
    outdated and that every from_pretrained() will likely fail)."""
    for entry in manifest.entries:
        snapshot = dest / entry.a1111_path
        if entry.hf_revision and snapshot.is_file():
            refs = dest / FOLDERS[entry.folder] / "refs"
            refs.mkdir(parents=True, exist_ok=True)
            (refs / "main").write_text(entry.hf_revision, encoding="utf-8")
            (refs.parents[1] / "version.txt").write_text("1", encoding="utf-8")


def _write_baked(manifest: Manifest, dest: Path, report: Report) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    files = [{**f, "path": str(Path(f["path"]).relative_to(dest))} for f in report.files]
    if manifest.checkpoint is None:
        info = {"name": manifest.name, "files": files}
        (dest / BAKED_TOOLS_JSON).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        return
    checkpoint = manifest.entry(manifest.checkpoint)
    (dest / BAKED_TXT).write_text(checkpoint.a1111_path + "\n", encoding="utf-8")
    info = {"name": manifest.name, "checkpoint": checkpoint.a1111_path, "files": files}
    (dest / BAKED_JSON).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def verify_tree(
    manifest: Manifest, root: str | os.PathLike, hf_home: str | os.PathLike | None = None
) -> list[str]:
    """Check the manifest's files under an A1111 directory (and HF_HOME, by default its
    hf-home/); return the problems found."""
    problems = []
    for entry in manifest.entries:
        path = Path(root) / entry.a1111_path
        if hf_home is not None and entry.a1111_path.startswith(HF_HOME_PREFIX):
            path = Path(hf_home) / entry.a1111_path.removeprefix(HF_HOME_PREFIX)
        if not path.is_file():
            if not entry.optional:
                problems.append(f"{entry.target}: missing ({path})")
            continue
        try:
            verify_file(path, entry)
        except ChecksumError as exc:
            problems.append(str(exc))
    return problems


# ----------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fetch", help="download, verify and lay out a model's files")
    f.add_argument("--manifest", required=True)
    f.add_argument("--dest", required=True, help="output A1111-shaped directory")
    f.add_argument("--local-dir", help="the model's folder; files already there are used")
    f.add_argument("--cache-dir", help="keep verified downloads here, by sha256")
    f.add_argument("--strict", action="store_true", help="refuse entries without a sha256")
    f.add_argument("--include-optional", action="store_true")
    f.add_argument("--retries", type=int, default=5)
    f.add_argument("--timeout", type=float, default=60.0, help="seconds per network read")
    f.add_argument("--backoff", type=float, default=2.0, help="first retry delay (doubles)")
    f.add_argument("--secrets-dir", default="/run/secrets")
    c = sub.add_parser("check", help="validate manifests only")
    c.add_argument("manifests", nargs="+")
    v = sub.add_parser("verify", help="verify files already in an A1111 directory")
    v.add_argument("--manifest", required=True)
    v.add_argument("--root", required=True)
    v.add_argument("--hf-home", help="the Hugging Face cache's home (default ROOT/hf-home)")
    return parser


def _unverified_label(entry: Entry) -> str:
    if entry.sha256_prefix:
        return f"{entry.target} (sha256 prefix {entry.sha256_prefix} checked)"
    return entry.target


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "check":
            for path in args.manifests:
                manifest = load_manifest(path)
                unverified = [_unverified_label(e) for e in manifest.entries if not e.verified]
                note = f"; UNVERIFIED: {', '.join(unverified)}" if unverified else ""
                log(f"{path}: OK, {len(manifest.entries)} files{note}")
            return 0
        manifest = load_manifest(args.manifest)
        if args.command == "verify":
            problems = verify_tree(manifest, args.root, args.hf_home)
            for problem in problems:
                log(problem)
            return 1 if problems else 0
        report = fetch(
            manifest,
            args.dest,
            local_dir=args.local_dir,
            cache_dir=args.cache_dir,
            strict=args.strict,
            include_optional=args.include_optional,
            retries=args.retries,
            timeout=args.timeout,
            backoff=args.backoff,
            secrets_dir=args.secrets_dir,
        )
        log(f"{manifest.name}: {len(report.files)} files in {args.dest}")
        return 0
    except ManifestError as exc:
        log(f"invalid manifest: {exc}")
        return 2
    except (FetchError, ChecksumError) as exc:
        log(f"FAILED: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
