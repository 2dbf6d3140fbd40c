"""Which base model family (SD1.x, SD2.x, SDXL) a checkpoint or a ControlNet is for, from the
cross-attention width in its safetensors header (768, 1024, 2048): no weights are read.
Other formats (.pth, .ckpt) cannot be told this cheaply and are not judged."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

from .annotators import EXTENSION_DIR

FAMILY_BY_CONTEXT = {768: "SD1.x", 1024: "SD2.x", 2048: "SDXL"}
SUFFIXES = (".safetensors", ".pt", ".pth", ".ckpt", ".bin")
_MAX_HEADER = 100_000_000


def family(path: Path) -> str | None:
    if path.suffix != ".safetensors":
        return None
    try:
        with path.open("rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            if size > _MAX_HEADER:
                return None
            header = json.loads(f.read(size))
    except (OSError, ValueError, struct.error):
        return None
    for name, tensor in header.items():
        if name.endswith("attn2.to_k.weight") and len(tensor.get("shape", ())) == 2:
            return FAMILY_BY_CONTEXT.get(tensor["shape"][1])
    return None


def controlnet_file(stem: str, flags: dict, options: dict) -> Path | None:
    """The file of a ControlNet model, in the folders the extension scans."""
    data_dir = Path(flags["data_dir"])
    folders = [
        data_dir / "models" / "ControlNet",
        data_dir / EXTENSION_DIR / "models",
        flags.get("controlnet_dir"),
        options.get("control_net_models_path"),
    ]
    for folder in filter(None, folders):
        for root, _dirs, files in os.walk(folder, followlinks=True):
            for name in files:
                path = Path(root, name)
                if path.stem == stem and path.suffix in SUFFIXES:
                    return path
    return None
