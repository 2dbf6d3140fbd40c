"""Preprocessors (ControlNet "modules") and what each needs on disk or in the venv.

The extension downloads a preprocessor's annotator weights on first use; offline that fails and
the generation goes on without ControlNet. The files are looked for where the extension looks:
option `control_net_modules_path`, else `--controlnet-annotator-models-path`, else
`extensions/sd-webui-controlnet/annotator/downloads`, in the sub-folder each annotator uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

EXTENSION_DIR = Path("extensions") / "sd-webui-controlnet"
DEFAULT_ANNOTATOR_DIR = EXTENSION_DIR / "annotator" / "downloads"
_HF = "https://huggingface.co"


@dataclass(frozen=True)
class Annotator:
    """One file an annotator downloads: its sub-folder of the annotator directory and URL."""

    folder: str
    file: str
    url: str

    def path(self, root: Path) -> Path:
        return root / self.folder / self.file


def _lllyasviel(folder: str, file: str, repo: str = "Annotators", sub: str = "") -> Annotator:
    return Annotator(folder, file, f"{_HF}/lllyasviel/{repo}/resolve/main/{sub}{file}")


_BODY = _lllyasviel("openpose", "body_pose_model.pth")
_HAND = _lllyasviel("openpose", "hand_pose_model.pth")
_FACE = _lllyasviel("openpose", "facenet.pth")
_YOLOX = Annotator("openpose", "yolox_l.onnx", f"{_HF}/yzd-v/DWPose/resolve/main/yolox_l.onnx")
_MIDAS = _lllyasviel("midas", "dpt_hybrid-midas-501f0c75.pt", "ControlNet", "annotator/ckpts/")
_HED = _lllyasviel("hed", "ControlNetHED.pth")
_PIDINET = _lllyasviel("pidinet", "table5_pidinet.pth")
_LERES = _lllyasviel("leres", "res101.pth")
_QINGLONG = f"{_HF}/bdsqlsz/qinglong_controlnet-lllite/resolve/main/Annotators"
_CLIP_H = Annotator(
    "clip_vision",
    "clip_h.pth",
    f"{_HF}/h94/IP-Adapter/resolve/main/models/image_encoder/pytorch_model.bin",
)
_CLIP_G = _lllyasviel("clip_vision", "clip_g.pth")
_CLIP_L = Annotator(
    "clip_vision",
    "clip_vitl.pth",
    f"{_HF}/openai/clip-vit-large-patch14/resolve/main/pytorch_model.bin",
)

# Preprocessor (internal name) -> the files it needs. Preprocessors not listed need none
# (canny, tile, reference, shuffle, inpaint, mediapipe_face, ...).
WEIGHTS: dict[str, tuple[Annotator, ...]] = {
    "openpose": (_BODY,),
    "openpose_hand": (_BODY, _HAND),
    "openpose_face": (_BODY, _FACE),
    "openpose_faceonly": (_BODY, _FACE),
    "openpose_full": (_BODY, _HAND, _FACE),
    "dw_openpose_full": (
        _YOLOX,
        Annotator(
            "openpose",
            "dw-ll_ucoco_384.onnx",
            f"{_HF}/yzd-v/DWPose/resolve/main/dw-ll_ucoco_384.onnx",
        ),
    ),
    "animal_openpose": (
        _YOLOX,
        Annotator(
            "openpose",
            "rtmpose-m_simcc-ap10k_pt-aic-coco_210e-256x256-7a041aa1_20230206.onnx",
            f"{_QINGLONG}/rtmpose-m_simcc-ap10k_pt-aic-coco_210e-256x256-7a041aa1_20230206.onnx",
        ),
    ),
    "depth": (_MIDAS,),
    "normal_map": (_MIDAS,),
    "depth_zoe": (_lllyasviel("zoedepth", "ZoeD_M12_N.pt"),),
    "depth_leres": (_LERES,),
    "depth_leres++": (_LERES, _lllyasviel("leres", "latest_net_G.pth")),
    "normal_bae": (_lllyasviel("normal_bae", "scannet.pt"),),
    "mlsd": (_lllyasviel("mlsd", "mlsd_large_512_fp32.pth", "ControlNet", "annotator/ckpts/"),),
    "hed": (_HED,),
    "hed_safe": (_HED,),
    "scribble_hed": (_HED,),
    "pidinet": (_PIDINET,),
    "pidinet_safe": (_PIDINET,),
    "pidinet_scribble": (_PIDINET,),
    "pidinet_sketch": (_PIDINET,),
    "softedge_teed": (Annotator("TEED", "7_model.pth", f"{_QINGLONG}/7_model.pth"),),
    "softedge_anyline": (
        Annotator(
            "TEED", "MTEED.pth", f"{_HF}/TheMistoAI/MistoLine/resolve/main/Anyline/MTEED.pth"
        ),
    ),
    "lineart": (_lllyasviel("lineart", "sk_model.pth"),),
    "lineart_coarse": (_lllyasviel("lineart", "sk_model2.pth"),),
    "lineart_anime": (_lllyasviel("lineart_anime", "netG.pth"),),
    "lineart_anime_denoise": (_lllyasviel("manga_line", "erika.pth"),),
    "segmentation": (
        _lllyasviel("uniformer", "upernet_global_small.pth", "ControlNet", "annotator/ckpts/"),
    ),
    "oneformer_ade20k": (_lllyasviel("oneformer", "250_16_swin_l_oneformer_ade20k_160k.pth"),),
    "oneformer_coco": (_lllyasviel("oneformer", "150_16_swin_l_oneformer_coco_100ep.pth"),),
    "anime_face_segment": (Annotator("anime_face_segment", "UNet.pth", f"{_QINGLONG}/UNet.pth"),),
    "densepose": (
        Annotator(
            "densepose",
            "densepose_r50_fpn_dl.torchscript",
            f"{_HF}/LayerNorm/DensePose-TorchScript-with-hint-image/resolve/main/"
            "densepose_r50_fpn_dl.torchscript",
        ),
    ),
    "inpaint_only+lama": (_lllyasviel("lama", "ControlNetLama.pth"),),
    "mobile_sam": (
        Annotator(
            "mobile_sam", "mobile_sam.pt", f"{_HF}/dhkim2810/MobileSAM/resolve/main/mobile_sam.pt"
        ),
    ),
    "ip-adapter_clip_sd15": (_CLIP_H,),
    "ip-adapter_clip_sdxl_plus_vith": (_CLIP_H,),
    "ip-adapter_clip_sdxl": (_CLIP_G,),
    "revision_clipvision": (_CLIP_G,),
    "revision_ignore_prompt": (_CLIP_G,),
    "clip_vision": (_CLIP_L,),
}
WEIGHTS["densepose_parula"] = WEIGHTS["densepose"]

# Preprocessors whose Python package comes only from GitHub wheels or a C++ build (the
# extension's install.py, which never runs here): the image does not have them.
PACKAGES: dict[str, str] = {
    "depth_anything": "depth_anything",
    "depth_anything_v2": "depth_anything_v2",
    "depth_hand_refiner": "handrefinerportable (hand_refiner)",
    "normal_dsine": "dsine",
    "ip-adapter_face_id": "insightface",
    "ip-adapter_face_id_plus": "insightface",
    "instant_id_face_embedding": "insightface",
    "instant_id_face_keypoints": "insightface",
    "ip-adapter_pulid": "insightface",
}


def annotator_dir(data_dir: str, flag: str | None, option: str | None) -> Path:
    """Where the extension reads annotator weights (its annotator_path.py, in that order)."""
    chosen = Path(option or flag or Path(data_dir) / DEFAULT_ANNOTATOR_DIR)
    return chosen if chosen.is_absolute() else Path(data_dir) / chosen


def missing(module: str, root: Path) -> list[Annotator]:
    return [a for a in WEIGHTS.get(module, ()) if not a.path(root).is_file()]
