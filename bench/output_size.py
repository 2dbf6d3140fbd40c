"""Figure 4: WebP (quality 90) bytes over PNG bytes for a natural photo, and the time the
worker's transcode (sdworker.outputs.transcode, the output_format: webp path) takes for it.

The photo is scikit-image's astronaut.png (512x512, a real photograph; requirements-bench.txt),
read from the installed package's data folder without importing scikit-image. The PNG it is
compared with is that photo saved as A1111 saves (Pillow's PNG defaults). The time's baseline
is that PNG save: what A1111 has already spent on the image.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import time
from pathlib import Path

from PIL import Image

from . import use_worker_sources
from .figures import Figure, median, verdict

TARGET = 0.33
PHOTO = "astronaut.png"
INFOTEXT = (
    "a photo of an astronaut riding a horse on the moon, detailed\n"
    "Negative prompt: blurry, low quality\n"
    "Steps: 20, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, Seed: 1234, "
    "Size: 512x512, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Version: v1.9.3"
)


def photo_path() -> Path | None:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / PHOTO
    return path if path.is_file() else None


def run(repeats: int) -> Figure:
    title = "output size: webp q90 / png, natural photo"
    path = photo_path()
    if path is None:
        return Figure.skipped(
            "4",
            title,
            "scikit-image is not installed (its sample photo is the test image): "
            "pip install -r requirements-bench.txt",
            target=f"<= x{TARGET:g}",
        )
    use_worker_sources()
    from sdworker.outputs import OutputOptions, transcode

    with Image.open(path) as img:
        photo = img.convert("RGB")

    def save_png() -> bytes:
        buf = io.BytesIO()
        photo.save(buf, "PNG")
        return buf.getvalue()

    png = save_png()
    b64 = base64.b64encode(png).decode()
    opts = OutputOptions(output_format="webp", output_quality=90)
    webp, _ = transcode(b64, opts, INFOTEXT)
    png_times, webp_times = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        save_png()
        png_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        transcode(b64, opts, INFOTEXT)
        webp_times.append(time.perf_counter() - started)
    ratio = len(webp) / len(png)
    t_webp, t_png = median(webp_times), median(png_times)
    return Figure(
        "4",
        title,
        measured=f"{len(webp) / 1000:.0f} kB",
        baseline=f"{len(png) / 1000:.0f} kB",
        result=f"x{ratio:.3f}",
        target=f"<= x{TARGET:g}",
        verdict=verdict(ratio <= TARGET),
        details=[
            f"{PHOTO} {photo.width}x{photo.height} from scikit-image; transcode to webp "
            f"{t_webp * 1000:.1f} ms (decode + encode, with the infotext as EXIF) vs A1111's PNG "
            f"save {t_png * 1000:.1f} ms: x{t_webp / t_png:.2f} (median of {repeats})",
        ],
    )
