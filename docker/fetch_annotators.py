#!/usr/bin/env python3
"""Fetch and verify the ControlNet annotator weights that docker/controlnet-annotators.json lists
(Python standard library only; the downloads, retries, cache and checks of fetch_models.py).

    python docker/fetch_annotators.py fetch --manifest M --dest DIR [--cache-dir DIR]
    python docker/fetch_annotators.py verify --manifest M --root DIR

DIR is the extension's annotator directory (extensions/sd-webui-controlnet/annotator/downloads);
each file goes to DIR/<path>, the sub-folder the extension's annotator reads it from.
Exit status: 0 success, 1 a download or checksum failure, 2 an invalid manifest.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "fetch_models", Path(__file__).with_name("fetch_models.py")
)
fm = importlib.util.module_from_spec(_spec)
sys.modules["fetch_models"] = fm
_spec.loader.exec_module(fm)

PATH_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.+-]+$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def load(path: Path) -> list[tuple[str, object]]:
    """(relative path, fetch_models.Entry) per file; every file must carry its sha256."""
    files = json.loads(path.read_text(encoding="utf-8")).get("files")
    if not isinstance(files, list) or not files:
        raise fm.ManifestError(f"{path}: files must be a non-empty list")
    entries = []
    for i, raw in enumerate(files):
        rel, sha = raw.get("path"), raw.get("sha256")
        if not isinstance(rel, str) or not PATH_RE.match(rel) or ".." in rel:
            raise fm.ManifestError(f"{path}: files[{i}]: path must be '<folder>/<file>'")
        if not isinstance(sha, str) or not SHA256_RE.match(sha):
            raise fm.ManifestError(f"{path}: files[{i}] ({rel}): a sha256 is required")
        url = raw.get("url", "")
        if not url.startswith(("https://", "http://")):
            raise fm.ManifestError(f"{path}: files[{i}] ({rel}): url must be http(s)")
        entry = fm.Entry(f"annotators/{rel}", "annotator", url, sha, raw.get("size"))
        entries.append((rel, entry))
    return entries


def fetch(manifest: Path, dest: Path, cache: Path | None) -> None:
    for rel, entry in load(manifest):
        out = dest / rel
        if fm._from_cache(entry, cache, out) is not None:
            how = "cache"
        else:
            fm.log(f"{entry.target}: downloading {entry.url}")
            fm.download(entry, out)
            fm._to_cache(entry, cache, out)
            how = "download"
        fm.log(f"{entry.target}: sha256 OK ({how})")


def verify(manifest: Path, root: Path) -> list[str]:
    problems = []
    for rel, entry in load(manifest):
        if not (root / rel).is_file():
            problems.append(f"{rel}: missing in {root}")
            continue
        try:
            fm.verify_file(root / rel, entry)
        except fm.ChecksumError as exc:
            problems.append(str(exc))
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    get = sub.add_parser("fetch")
    get.add_argument("--manifest", type=Path, required=True)
    get.add_argument("--dest", type=Path, required=True)
    get.add_argument("--cache-dir", type=Path)
    check = sub.add_parser("verify")
    check.add_argument("--manifest", type=Path, required=True)
    check.add_argument("--root", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            fetch(args.manifest, args.dest, args.cache_dir)
            return 0
        problems = verify(args.manifest, args.root)
    except fm.ManifestError as exc:
        print(f"fetch_annotators: {exc}", file=sys.stderr)
        return 2
    except (fm.FetchError, fm.ChecksumError) as exc:
        print(f"fetch_annotators: {exc}", file=sys.stderr)
        return 1
    for problem in problems:
        print(f"fetch_annotators: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
