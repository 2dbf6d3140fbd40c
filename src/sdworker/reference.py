"""The input reference (Markdown), generated from the operations table and input models.

`python -m sdworker.reference` prints it; `--write README.md` refreshes the README's copy,
which a test keeps current.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from .inputs import with_limits
from .operations import DEFAULT_API, OPERATIONS

START, END = "<!-- reference:start -->", "<!-- reference:end -->"


def _type_of(spec: dict) -> str:
    options = spec.get("anyOf", [spec])
    names = []
    for option in options:
        if option.get("type") == "null":
            continue
        if "enum" in option or "const" in option:
            names.append(" / ".join(repr(v) for v in option.get("enum", [option.get("const")])))
        elif option.get("type") == "array":
            names.append(f"list of {_type_of(option.get('items', {})) or 'any'}")
        else:
            names.append(option.get("type", "any"))
    return " or ".join(names)


def _row(name: str, spec: dict, required: bool) -> str:
    description = with_limits(spec.get("description") or "")
    description = description.replace("|", "\\|").replace("<", "&lt;")
    mark = " **(required)**" if required else ""
    return f"| `{name}`{mark} | {_type_of(spec)} | {description} |"


def markdown() -> str:
    lines = [
        f"`input.api` picks the operation (default `{DEFAULT_API}`); the other fields of `input`",
        "are that operation's parameters. Fields left out keep A1111's default. Unknown fields",
        "are refused with a 'did you mean' hint.",
        "",
    ]
    for op in OPERATIONS.values():
        schema = op.input.model_json_schema()
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        lines.append(f"### `{op.name}`\n\n{op.summary}\n")
        if not props:
            lines.append("No parameters.\n")
            continue
        lines += ["| field | type | meaning, range, default |", "|---|---|---|"]
        lines += [_row(name, spec, name in required) for name, spec in props.items()]
        lines.append("")
    return "\n".join(lines)


def embedded_in(text: str) -> str:
    """The reference section of a README's text."""
    match = re.search(re.escape(START) + r"\n(.*?)" + re.escape(END), text, re.S)
    return match.group(1) if match else ""


def write_into(path: Path) -> None:
    text = path.read_text()
    start, end = text.index(START) + len(START), text.index(END)
    path.write_text(text[:start] + "\n" + markdown() + "\n" + text[end:])


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write"]:
        write_into(Path(sys.argv[2]))
    else:
        print(markdown())
