"""Weights that A1111 downloads on first use, and whether they are on this worker's disk.

Offline (as a worker is), A1111 v1.9.3 cannot fetch them and carries on without a word: an
ESRGAN-family upscaler falls back to Lanczos while its infotext still names it, face restoration
leaves the image as it was, the CLIP interrogator captions "<error>". Its listings cannot tell
(an R-ESRGAN entry shows its download URL even when the file is there), so the worker, which
shares A1111's file system, looks for the files itself in the folders A1111 reports
(/sdapi/v1/cmd-flags), as A1111 would look for them.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path

from .config import hf_home

_RELEASES = "https://github.com"


@dataclass(frozen=True)
class Weights:
    """A file A1111 would download: its folder (a cmd-flags key, models/<name> or a path),
    the name it is saved as, where it comes from, and how A1111 recognises it (a glob; in the
    folder and below unless `nested` is false)."""

    folder: str
    file: str
    url: str
    glob: str = ""
    nested: bool = True

    def directory(self, flags: dict) -> Path:
        if os.path.isabs(self.folder):
            return Path(self.folder)
        if self.folder.startswith("models/"):
            return Path(flags.get("data_dir") or ".") / self.folder
        return Path(flags.get(self.folder) or "")

    def present(self, flags: dict) -> bool:
        root = self.directory(flags)
        if not self.nested:
            return (root / self.file).is_file()
        pattern = self.glob or f"*{self.file}"
        for _dir, _subdirs, files in os.walk(root, followlinks=True):
            if fnmatch.filter(files, pattern):
                return True
        return False

    def how_to_add(self, flags: dict) -> str:
        return f"{self.file} (from {self.url}) in {self.directory(flags)}"


def _realesrgan(file: str, release: str) -> Weights:
    url = f"{_RELEASES}/xinntao/Real-ESRGAN/releases/download/{release}/{file}"
    return Weights("realesrgan_models_path", file, url)


def _dat(scale: int) -> Weights:
    url = f"{_RELEASES}/n0kovo/dat_upscaler_models/raw/main/DAT/DAT_x{scale}.pth"
    return Weights("dat_models_path", f"DAT_x{scale}.pth", url)


_SCUNET = Weights(
    "scunet_models_path",
    "ScuNET.pth",  # A1111 1.9.3 fetches the GAN weights under this name for both entries
    f"{_RELEASES}/cszn/KAIR/releases/download/v1.0/scunet_color_real_gan.pth",
)

# The upscalers A1111 1.9.3 lists before any file is there, by name.
UPSCALERS: dict[str, tuple[Weights, ...]] = {
    "R-ESRGAN 4x+": (_realesrgan("RealESRGAN_x4plus.pth", "v0.1.0"),),
    "R-ESRGAN 4x+ Anime6B": (_realesrgan("RealESRGAN_x4plus_anime_6B.pth", "v0.2.2.4"),),
    "R-ESRGAN 2x+": (_realesrgan("RealESRGAN_x2plus.pth", "v0.2.1"),),
    "R-ESRGAN General 4xV3": (_realesrgan("realesr-general-x4v3.pth", "v0.2.5.0"),),
    "R-ESRGAN General WDN 4xV3": (_realesrgan("realesr-general-wdn-x4v3.pth", "v0.2.5.0"),),
    "R-ESRGAN AnimeVideo": (_realesrgan("realesr-animevideov3.pth", "v0.2.5.0"),),
    "ESRGAN_4x": (
        Weights(
            "esrgan_models_path",
            "ESRGAN_4x.pth",
            f"{_RELEASES}/cszn/KAIR/releases/download/v1.0/ESRGAN.pth",
        ),
    ),
    "DAT x2": (_dat(2),),
    "DAT x3": (_dat(3),),
    "DAT x4": (_dat(4),),
    "SwinIR 4x": (
        Weights(
            "swinir_models_path",
            "SwinIR_4x.pth",
            f"{_RELEASES}/JingyunLiang/SwinIR/releases/download/v0.0/"
            "003_realSR_BSRGAN_DFOWMFC_s64w8_SwinIR-L_x4_GAN.pth",
        ),
    ),
    "ScuNET GAN": (_SCUNET,),
    "ScuNET PSNR": (_SCUNET,),
    "LDSR": (
        Weights("ldsr_models_path", "model.ckpt", "https://heibox.uni-heidelberg.de (A1111's URL)"),
        Weights(
            "ldsr_models_path", "project.yaml", "https://heibox.uni-heidelberg.de (A1111's URL)"
        ),
    ),
}
# Upscalers with nothing to load.
BUILT_IN_UPSCALERS = frozenset({"None", "Lanczos", "Nearest"})

# Both restorers find faces with facexlib, whose two files A1111 1.9.3 reads from models/GFPGAN.
_FACEXLIB = (
    Weights(
        "gfpgan_models_path",
        "detection_Resnet50_Final.pth",
        f"{_RELEASES}/xinntao/facexlib/releases/download/v0.1.0/detection_Resnet50_Final.pth",
        nested=False,
    ),
    Weights(
        "gfpgan_models_path",
        "parsing_parsenet.pth",
        f"{_RELEASES}/xinntao/facexlib/releases/download/v0.2.2/parsing_parsenet.pth",
        nested=False,
    ),
)
FACE_RESTORERS: dict[str, tuple[Weights, ...]] = {
    "CodeFormer": (
        Weights(
            "codeformer_models_path",
            "codeformer-v0.1.0.pth",
            f"{_RELEASES}/sczhou/CodeFormer/releases/download/v0.1.0/codeformer.pth",
            glob="*.pth",
        ),
        *_FACEXLIB,
    ),
    "GFPGAN": (
        Weights(
            "gfpgan_models_path",
            "GFPGANv1.4.pth",
            f"{_RELEASES}/TencentARC/GFPGAN/releases/download/v1.3.0/GFPGANv1.4.pth",
            glob="*GFPGAN*.pth",
        ),
        *_FACEXLIB,
    ),
}

INTERROGATORS: dict[str, tuple[Weights, ...]] = {
    "clip": (
        Weights(
            "models/BLIP",
            "model_base_caption_capfilt_large.pth",
            "https://storage.googleapis.com/sfr-vision-language-research/BLIP/models/"
            "model_base_caption_capfilt_large.pth",
            glob="*.pth",
        ),
        Weights(
            "clip_models_path",
            "ViT-L-14.pt",
            "https://openaipublic.azureedge.net/clip/models/ (openai CLIP ViT-L/14)",
        ),
        # BLIP's tokenizer, which it loads by name (offline: from the Hugging Face cache only).
        Weights(
            "bert_cache",
            "vocab.txt",
            "https://huggingface.co/bert-base-uncased, in the Hugging Face cache's layout",
        ),
        # Without the folder A1111 tries to download the lists, then captions with BLIP alone.
        Weights(
            "interrogate_dir",
            "artists.txt, flavors.txt, mediums.txt, movements.txt",
            "https://raw.githubusercontent.com/pharmapsychotic/clip-interrogator/main/"
            "clip_interrogator/data/",
            glob="*.txt",
        ),
    ),
    "deepdanbooru": (
        Weights(
            "models/torch_deepdanbooru",
            "model-resnet_custom_v3.pt",
            f"{_RELEASES}/AUTOMATIC1111/TorchDeepDanbooru/releases/download/v1/"
            "model-resnet_custom_v3.pt",
            glob="*.pt",
        ),
    ),
}


def interrogator_folders(flags: dict) -> dict:
    """Where the interrogators' other files are: openai CLIP's own cache (A1111's default for
    ViT-L-14.pt), the Hugging Face cache A1111 shares with the worker (HF_HOME), and the
    category lists in A1111's working directory."""
    home = Path(hf_home())
    folders = {
        "clip_models_path": str(Path.home() / ".cache" / "clip"),
        "bert_cache": str(home / "hub" / "models--bert-base-uncased"),
        "interrogate_dir": str(Path(flags.get("data_dir") or ".") / "interrogate"),
    }
    return {**folders, **{k: v for k, v in flags.items() if v}}


def can_look(flags: dict) -> bool:
    """Whether A1111's folders are on this file system (not when WEBUI_URL is another host)."""
    return bool(flags.get("data_dir")) and Path(flags["data_dir"]).is_dir()


def missing(needed: tuple[Weights, ...], flags: dict) -> list[Weights]:
    return [weights for weights in needed if not weights.present(flags)]


def upscaler_missing(entry: dict, flags: dict) -> list[Weights]:
    """What an entry of /sdapi/v1/upscalers lacks on disk (nothing when it cannot be told)."""
    name, path = entry.get("name"), entry.get("model_path")
    if name in BUILT_IN_UPSCALERS:
        return []
    if name in UPSCALERS:
        return missing(UPSCALERS[name], flags)
    if path and not str(path).startswith("http") and not Path(path).exists():
        listed = Path(path)
        return [Weights(str(listed.parent), listed.name, "the path A1111 lists", nested=False)]
    return []


def with_status(entries: list[dict], lacking, flags: dict) -> list[dict]:
    """A1111's list entries, each saying whether its weights are on this worker's disk
    (`installed`; None when the worker cannot look) and, if not, which files are `missing`."""
    if not can_look(flags):
        return [{**entry, "installed": None} for entry in entries]
    shown = []
    for entry in entries:
        absent = lacking(entry, flags)
        shown.append(
            {**entry, "installed": not absent, "missing": [w.how_to_add(flags) for w in absent]}
        )
    return shown


def face_restorer_missing(entry: dict, flags: dict) -> list[Weights]:
    return missing(FACE_RESTORERS.get(entry.get("name"), ()), flags)
