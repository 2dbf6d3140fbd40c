"""Command line: python -m tests.a1111_standin --host 127.0.0.1 --port PORT [faults...]"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time

from .app import App
from .server import serve
from .state import Config


def _seconds(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError("must be a number >= 0")
    return value


def _status(text: str) -> int:
    value = int(text)
    if not 100 <= value <= 599:
        raise argparse.ArgumentTypeError("must be an HTTP status code")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.a1111_standin",
        description="A stand-in for the AUTOMATIC1111 stable-diffusion-webui v1.9.3 API.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument(
        "--start-delay",
        type=_seconds,
        default=0.0,
        help="do not listen until this many seconds have passed (connection refused meanwhile)",
    )
    parser.add_argument(
        "--model-load-seconds",
        type=_seconds,
        default=0.0,
        help="the API answers at once, but generations wait until this long after start",
    )
    parser.add_argument(
        "--generation-seconds",
        type=_seconds,
        default=0.0,
        help="each generation takes this long, spread over its sampling steps",
    )
    parser.add_argument(
        "--model-switch-seconds",
        type=_seconds,
        default=0.0,
        help="loading another checkpoint takes this long",
    )
    parser.add_argument(
        "--hang", action="store_true", help="accept connections but never answer anything"
    )
    parser.add_argument(
        "--fail-status",
        type=_status,
        default=None,
        help="every /sdapi route answers this status with A1111's error shape",
    )
    parser.add_argument("--quiet", action="store_true", help="no request log on stderr")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if args.start_delay:
        time.sleep(args.start_delay)
    config = Config(
        generation_seconds=args.generation_seconds,
        model_load_seconds=args.model_load_seconds,
        model_switch_seconds=args.model_switch_seconds,
        fail_status=args.fail_status,
    )
    app = App(config, host=args.host, port=args.port)
    # the model load is timed from process start, not from the end of --start-delay
    app.model_ready_at -= args.start_delay
    with contextlib.suppress(KeyboardInterrupt):
        serve(app, args.host, args.port, hang_all=args.hang, quiet=args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
