"""ADetailer v25.3.0's own routes, as the real extension answers them (the worker reads them to
check ADetailer jobs). Its schema is the one GET /adetailer/v1/schema gives on the real engine
(tests/real/test_real_adetailer.py compares them); its model list is the mediapipe models it
bundles plus the files tests/engine/tool_weights.py makes in models/adetailer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VERSION = "25.3.0"
SCHEMA = json.loads((Path(__file__).parent / "adetailer_v25_3_0_schema.json").read_text())
MODELS = (
    "mediapipe_face_full",
    "mediapipe_face_short",
    "mediapipe_face_mesh",
    "mediapipe_face_mesh_eyes_only",
    "face_yolov8n.pt",
    "face_yolov8n_always.pt",
)


def _answer(value: Any):
    return lambda app, req: value


ROUTES: dict[str, dict[str, Any]] = {
    "/adetailer/v1/version": {"GET": _answer({"version": VERSION})},
    "/adetailer/v1/schema": {"GET": _answer(SCHEMA)},
    "/adetailer/v1/ad_model": {"GET": _answer({"ad_model": list(MODELS)})},
}
