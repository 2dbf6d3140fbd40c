"""docker-bake.hcl as bake reads it, for the tests (python-hcl2 parses it)."""

from __future__ import annotations

import re
from pathlib import Path

import hcl2

BAKE_FILE = Path(__file__).resolve().parents[1] / "docker-bake.hcl"


def _unquote(value):
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    if isinstance(value, dict):
        return {_unquote(k): _unquote(v) for k, v in value.items() if k != "__is_block__"}
    return value


def _blocks(doc: dict, kind: str) -> dict:
    """{label: body} for every `kind "label" {...}` block, whatever python-hcl2's output style."""
    found = {}
    for block in doc.get(kind, []):
        for label, body in block.items():
            found[_unquote(label)] = _unquote(body)
    return found


def resolve(bake, name, **overrides) -> dict:
    """A target as bake would build it: inherited settings merged, ${VAR} interpolated."""
    variables = {k: v.get("default", "") for k, v in bake["variable"].items()}
    variables.update(overrides)

    def interpolate(value):
        if isinstance(value, str):
            return re.sub(r"\$\{(\w+)\}", lambda m: variables[m.group(1)], value)
        if isinstance(value, list):
            return [interpolate(v) for v in value]
        if isinstance(value, dict):
            return {k: interpolate(v) for k, v in value.items()}
        return value

    def merged(target):
        body = bake["target"][target]
        result = {}
        for parent in body.get("inherits", []):
            parent_body = merged(parent)
            for key, value in parent_body.items():
                if key == "args":
                    result.setdefault("args", {}).update(value)
                else:
                    result[key] = value
        for key, value in body.items():
            if key == "inherits":
                continue
            if key == "args":
                result.setdefault("args", {}).update(value)
            else:
                result[key] = value
        return result

    return interpolate(merged(name))


def load_bake(path: Path = BAKE_FILE) -> dict:
    with open(path) as fh:
        doc = hcl2.load(fh)
    return {kind: _blocks(doc, kind) for kind in ("variable", "target", "group")}
