"""Small shared test utilities (images, job running through the real runpod SDK)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.server
import importlib.util
import io
import itertools
import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from PIL import Image

_ids = itertools.count(1)


def png_b64(width: int = 64, height: int = 64, color=(200, 30, 30)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def safetensors_bytes(tensor_bytes: int = 64, fill: bytes = b"\x01", **metadata: str) -> bytes:
    """A well-formed .safetensors file: length, JSON header, then exactly the tensor data."""
    header = {"w": {"dtype": "U8", "shape": [tensor_bytes], "data_offsets": [0, tensor_bytes]}}
    if metadata:
        header["__metadata__"] = metadata
    raw = json.dumps(header).encode()
    return len(raw).to_bytes(8, "little") + raw + fill * tensor_bytes


def decode_png(b64: str) -> Image.Image:
    img = Image.open(io.BytesIO(base64.b64decode(b64)))
    img.load()
    return img


def check_output(name: str, output) -> None:
    """A job output that is not empty, whose images (if any) are PNGs."""
    if "images" in (output if isinstance(output, dict) else {}):
        for image in output["images"]:
            assert decode_png(image).format == "PNG"
        assert output["images"], name
    else:
        assert output, name


def run_job(handler, job_input) -> dict:
    """Exactly what RunPod would receive for this job (runpod's own run_job)."""
    from runpod.serverless.modules.rp_job import run_job as sdk_run_job

    job = {"id": f"test-{next(_ids)}", "input": job_input}
    return asyncio.run(sdk_run_job(handler, job))


class Updates(list):
    """A progress sink that keeps (job id, time, update) for each update sent."""

    def __call__(self, job, update):
        self.append((job["id"], time.monotonic(), update))


@contextlib.contextmanager
def serve_files(files: dict[str, bytes]) -> Iterator[str]:
    """A local HTTP server answering GET <path> with files[path] (404 otherwise); its base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def docker_script(name: str):
    """docker/<name>.py (a standalone build script, not a package module), imported once and
    registered under its name: its dataclasses look their module up in sys.modules."""
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "docker" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
