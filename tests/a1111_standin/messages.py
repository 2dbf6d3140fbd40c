"""Requests and responses as the stand-in's application layer sees them (no sockets)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .errors import from_exception


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Any  # email.message.Message-like (case-insensitive .get)
    body: bytes

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    # The body already gzipped (sent instead of compressing `body` when the client accepts it).
    gzipped: bytes | None = None


def render_json(obj: Any) -> bytes:
    """Starlette's JSONResponse.render."""
    return json.dumps(
        obj, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


def json_response(status: int, obj: Any, headers: dict[str, str] | None = None) -> Response:
    try:
        body = render_json(obj)
    except ValueError as exc:  # NaN/inf in the answer: A1111's middleware reports a 500
        status, body = 500, render_json(from_exception(exc).body())
    return Response(status, body, {"content-type": "application/json", **(headers or {})})
