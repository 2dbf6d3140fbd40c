"""Entry for the RunPod Hub, which looks for handler.py in .runpod/ or at the repository root.

The worker's entry is src/handler.py (the image runs it through src/start.sh); this runs that
same file, with the same command-line flags, so `python .runpod/handler.py --rp_serve_api`
behaves exactly like `python src/handler.py --rp_serve_api`.
"""

import runpy
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

if __name__ == "__main__":
    sys.path.insert(0, str(SRC))
    runpy.run_path(str(SRC / "handler.py"), run_name="__main__")
