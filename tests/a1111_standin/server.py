"""HTTP/1.1 server (standard library, keep-alive, Content-Length) in front of the App, with
fault injection applied before a request reaches A1111's routes."""

from __future__ import annotations

import contextlib
import gzip
import json
import select
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote

from . import exchanges
from .app import CONTROL_PREFIX, App
from .errors import error_body
from .messages import Request, Response, json_response
from .state import Fault

MAX_BODY = 64 * 1024 * 1024
GZIP_MIN_SIZE = 1000  # A1111 adds Starlette's GZipMiddleware(minimum_size=1000)
KEEP_ALIVE_SECONDS = 30  # uvicorn's timeout_keep_alive as A1111 sets it


def _json_or_note(body: bytes):
    try:
        return json.loads(body)
    except ValueError:
        return f"<not JSON: {len(body)} bytes>"


class _Dropped(Exception):
    """The connection was dropped on purpose (fault injection)."""


class StandInServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, app: App, hang_all: bool = False, quiet: bool = False):
        super().__init__(address, Handler)
        self.app = app
        self.hang_all = hang_all
        self.quiet = quiet
        self.stopping = threading.Event()

    def handle_error(self, request, client_address) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, _Dropped, OSError)):
            return
        self.log(f"internal error while serving {client_address}: {exc!r}")

    def log(self, line: str) -> None:
        if not self.quiet:
            try:
                sys.stderr.write(line + "\n")
                sys.stderr.flush()
            except (OSError, ValueError):
                pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "uvicorn"
    sys_version = ""
    timeout = KEEP_ALIVE_SECONDS
    server: StandInServer

    # --- connection level ----------------------------------------------------------------
    def handle(self) -> None:
        try:
            if self.server.hang_all:
                self._hang(None)
            super().handle()
        except _Dropped:
            self.close_connection = True

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()

    def _hang(self, limit: float | None) -> None:
        """Keep the connection open without answering until the client gives up, the
        faults are cleared, `limit` seconds pass or the server stops."""
        release = self.server.app.faults.release
        started = time.monotonic()
        conn = self.connection
        while not self.server.stopping.is_set() and not release.is_set():
            if limit is not None and time.monotonic() - started >= limit:
                break
            try:
                readable, _, _ = select.select([conn], [], [], 0.1)
                if readable and not conn.recv(65536):
                    break
            except (OSError, ValueError):
                break
        self._drop(reset=False)

    def _drop(self, reset: bool) -> None:
        try:
            if reset:
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            self.connection.close()
        except OSError:
            pass
        raise _Dropped()

    # --- requests ------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = do_GET

    def version_string(self) -> str:
        return "uvicorn"

    def log_request(self, code="-", size="-") -> None:
        pass

    def log_message(self, format, *args) -> None:
        self.server.log(f"stand-in: {self.address_string()} {format % args}")

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise ConnectionError("client went away")
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length = self.headers.get("content-length")
        if not length:
            return b""
        n = int(length)
        if n < 0:
            raise ValueError("negative Content-Length")
        if n > MAX_BODY:
            return None
        data = self.rfile.read(n)
        if len(data) < n:
            raise ConnectionError("client went away")
        return data

    def _serve(self) -> None:
        started = time.monotonic()
        app = self.server.app
        method = self.command
        raw_path, _, query_string = self.path.partition("?")
        path = unquote(raw_path)
        control = path.startswith(CONTROL_PREFIX)
        try:
            body = self._read_body()
        except (ValueError, ConnectionError):
            self.close_connection = True
            self._send(json_response(400, {"detail": "Bad request body"}), method)
            return
        if body is None:
            self.close_connection = True
            self._send(json_response(413, {"detail": "Request body too large"}), method)
            self._log(method, path, 413, started)
            return
        if not control:
            app.stats.request(method, path)
            if body:
                app.stats.payload(method, path, _json_or_note(body))
            if app.config.hang:
                self._log(method, path, "hang", started)
                self._hang(None)
            fault = app.faults.take(method, path)
            if fault is not None:
                response = self._apply_fault(fault, method, path, started)
                if response is not None:
                    self._send(response, method)
                    self._log(method, path, response.status, started)
                    return
        query = parse_qs(query_string, keep_blank_values=True)
        pristine = not control and app.is_pristine()
        response = app.dispatch(Request(method, path, query, self.headers, body))
        if pristine:
            exchanges.record(method, path, query_string, body, response.status)
        self._send(response, method, started)
        self._log(method, path, response.status, started)

    def _apply_fault(self, fault: Fault, method: str, path: str, started: float):
        """None: go on normally (after a delay); a Response: answer it instead."""
        if fault.mode == "close":
            if fault.seconds:
                time.sleep(fault.seconds)
            self._log(method, path, "reset", started)
            self._drop(reset=True)
        if fault.mode == "hang":
            self._log(method, path, "hang", started)
            self._hang(fault.seconds or None)
        if fault.seconds:
            time.sleep(fault.seconds)
        if fault.mode == "delay":
            return None
        if isinstance(fault.body, str):
            return Response(fault.status, fault.body.encode(), {"content-type": "text/plain"})
        body = fault.body if fault.body is not None else error_body(fault.status, "injected fault")
        return json_response(fault.status, body)

    def _send(self, response: Response, method: str, started: float | None = None) -> None:
        body = response.body
        headers = dict(response.headers)
        accept = (self.headers.get("accept-encoding") or "").lower()
        if len(body) >= GZIP_MIN_SIZE and "gzip" in accept:
            body = response.gzipped or gzip.compress(body, compresslevel=1)
            headers["content-encoding"] = "gzip"
            headers["vary"] = "Accept-Encoding"
        if started is not None:
            headers["x-process-time"] = str(round(time.monotonic() - started, 4))
        self.send_response(response.status)
        headers["content-length"] = str(len(body))
        for key, value in headers.items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("connection", "close")
        self.end_headers()
        if method != "HEAD" and body:
            self.wfile.write(body)
        self.wfile.flush()

    def _log(self, method: str, path: str, status, started: float) -> None:
        ms = (time.monotonic() - started) * 1000
        self.server.log(f"stand-in: {method} {path} {status} {ms:.0f}ms")


def serve(app: App, host: str, port: int, hang_all: bool = False, quiet: bool = False) -> None:
    server = StandInServer((host, port), app, hang_all=hang_all, quiet=quiet)
    server.log(f"stand-in: A1111 v1.9.3 stand-in listening on http://{host}:{port}")
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.stopping.set()
        server.server_close()
