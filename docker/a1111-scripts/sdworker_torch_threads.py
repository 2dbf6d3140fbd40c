"""Keeps torch's CPU thread count at what A1111 started with, whatever ADetailer does.

ADetailer detects with ultralytics, whose select_device() calls
torch.set_num_threads(min(8, os.cpu_count() - 1)) at every prediction on the CPU. That is a
process-wide setting: every later generation in this A1111 would run with another thread count
(slower, and with other pixels for the same seed). ultralytics reads no environment variable for
it, so this always-on script, in A1111's own scripts/ folder, gives ultralytics the start-up
count and puts it back before and after every generation.
"""

import sys

import torch
from modules import scripts

STARTUP_THREADS = torch.get_num_threads()


def keep_startup_threads() -> None:
    if "adetailer" in sys.modules:
        # Imported here, at the first generation (start.sh's warm-up), not at A1111's start-up.
        import ultralytics.utils.torch_utils as ultralytics_torch

        if ultralytics_torch.NUM_THREADS != STARTUP_THREADS:
            print(f"sdworker: ultralytics keeps torch at {STARTUP_THREADS} CPU threads", flush=True)
            ultralytics_torch.NUM_THREADS = STARTUP_THREADS
    if torch.get_num_threads() != STARTUP_THREADS:
        print(
            f"sdworker: torch CPU threads {torch.get_num_threads()} -> {STARTUP_THREADS}",
            flush=True,
        )
        torch.set_num_threads(STARTUP_THREADS)


class KeepTorchThreads(scripts.Script):
    def title(self):
        return "sdworker: keep torch threads"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def process(self, p, *args):
        keep_startup_threads()

    def postprocess(self, p, processed, *args):
        keep_startup_threads()
