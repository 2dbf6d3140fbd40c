"""Takes the place of A1111's launch.py in the image check (tests/image): the image is the real
one but for A1111, which is the project's stand-in.

It records how start.sh launched it (arguments, environment, the checkpoint it was given) in
/tmp/launch.json, then serves the stand-in A1111 on the host and port A1111 would use.
"""

import argparse
import json
import os
import runpy
import sys
from pathlib import Path

RECORD = Path("/tmp/launch.json")
ENV_KEYS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HOME", "LD_PRELOAD", "PYTHONUNBUFFERED")


def main() -> None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--port", type=int, default=7861)
    parser.add_argument("--server-name", default="0.0.0.0")
    parser.add_argument("--ckpt")
    args, _ = parser.parse_known_args()
    ckpt = Path(args.ckpt) if args.ckpt else None
    record = {
        "argv": sys.argv[1:],
        "cwd": os.getcwd(),
        "python": sys.executable,
        "env": {key: os.environ.get(key) for key in ENV_KEYS},
        "ckpt_size": ckpt.stat().st_size if ckpt and ckpt.is_file() else None,
    }
    RECORD.write_text(json.dumps(record))
    sys.argv = ["a1111_standin", "--host", args.server_name, "--port", str(args.port), "--quiet"]
    runpy.run_module("a1111_standin", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
