"""Makes, without any download, stand-ins for the "tools" weights a worker bakes (models/_tools).

Run by tests/engine/build.py (EXTRA_WEIGHTS) with the engine's own Python (torch, spandrel,
facexlib, ultralytics), under the engine lock, before any A1111 starts (A1111 reads R-ESRGAN
files and ADetailer its model list at start-up):

    python tool_weights.py --webui WEBUI_DIR --hf-home HF_HOME

Each file has the real architecture and file layout, with random weights, and is loaded here
the way A1111 or ADetailer loads it before it is kept:
- models/RealESRGAN/RealESRGAN_x4plus.pth: RRDBNet in basicsr's layout ({"params_ema": ...}),
  which spandrel must take for ESRGAN x4 ('R-ESRGAN 4x+');
- models/Codeformer/codeformer-v0.1.0.pth, models/GFPGAN/GFPGANv1.4.pth: spandrel's CodeFormer
  and GFPGANv1Clean;
- models/GFPGAN/detection_Resnet50_Final.pth, parsing_parsenet.pth: facexlib's RetinaFace
  (resnet50) and ParseNet, loaded strictly. The detector's class heads are set to "background"
  everywhere: a random RetinaFace finds about 2000 faces in any image and A1111 would restore
  each of them for many minutes;
- models/adetailer/face_yolov8n.pt: a YOLOv8n detector from ultralytics' bundled yaml, saved as
  an Ultralytics checkpoint (it detects nothing), and face_yolov8n_always.pt, the same with its
  class biases at +10 (it "detects" a face everywhere: ADetailer's inpaint path runs);
- scripts/sdworker_torch_threads.py: the image's A1111 script that keeps torch's thread count
  (docker/a1111-scripts), pinned by THREADS_SCRIPT_SHA256.

Not made, so that the worker's refusals stay testable: SwinIR, ESRGAN_4x, the Anime6B R-ESRGAN,
DAT, ScuNET, LDSR, the interrogators (BLIP, CLIP, DeepDanbooru). A test that needs one of the
other three baked upscalers makes its file for its own time:

    python tool_weights.py --webui WEBUI_DIR --upscaler NAME --out TARGET

- 'R-ESRGAN 4x+ Anime6B' (RealESRGAN_x4plus_anime_6B.pth, 18 MB): RRDBNet with 6 blocks, in
  basicsr's layout;
- 'ESRGAN_4x' (KAIR's ESRGAN.pth, 67 MB): RRDBNet with 23 blocks, a bare state dict in the
  original ESRGAN layout (`model.N`, `model.1.sub.N.RDBk.convM.0`);
- 'SwinIR 4x' (003_realSR_BSRGAN_DFOWMFC_s64w8_SwinIR-L_x4_GAN.pth, 142 MB): spandrel's SwinIR
  built as SwinIR-L (embed_dim 240, 9 layers of 6 blocks, 8 heads, window 8, img_size 64,
  nearest+conv, 3conv), under "params_ema".
Each passes A1111's safe-unpickler check and is kept only if spandrel loads it as the
architecture A1111 asks for (ESRGAN, SwinIR) with the file's shape, at scale 4, and upscales a
16x16 image to 64x64. A test that needs DeepDanbooru makes it for its own time (644 MB):

    python tool_weights.py --webui WEBUI_DIR --deepdanbooru TARGET

A1111's own DeepDanbooruModel with random weights and TAGS synthetic tag names, saved as the
published file is (a state dict with its "tags" list). CLIP's ViT-L-14.pt cannot be made: openai
CLIP checks its sha256 and downloads the real one when it differs.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

SEED = 1234
PROJECT = Path(__file__).resolve().parents[2]
THREADS_SCRIPT = PROJECT / "docker" / "a1111-scripts" / "sdworker_torch_threads.py"
# build.py runs a maker again only when the maker changes: the script's digest is pinned here,
# so that a new script (tests/test_tool_weights.py checks the pin) makes this file change too.
THREADS_SCRIPT_SHA256 = "925c2ca9fa0f2f2c0cb9f13692698c5928ccc49af818e574f80eab13d44fb584"


def _save(obj, target: Path, webui: Path | None = None) -> None:
    """torch.save in the format of the published files. torch 2.1's zip format adds a
    `byteorder` record that A1111's safe unpickler (modules/safe.py, on unless
    --disable-safe-unpickle) refuses: given `webui`, A1111's own check must pass."""
    import torch

    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    torch.save(obj, part, _use_new_zipfile_serialization=webui is None)
    if webui is not None:
        _a1111_safe(webui).check_pt(str(part), None)
    os.replace(part, target)
    print(f"tool weights: {target} ({target.stat().st_size:,} bytes)")


def _a1111_safe(webui: Path):
    import sys

    if str(webui) not in sys.path:
        sys.path.insert(0, str(webui))
    import torch
    from modules import safe

    # Importing it swaps torch.load for A1111's; only its check is wanted here.
    torch.load = safe.unsafe_torch_load
    return safe


def _randomise(state: dict, generator) -> dict:
    """Small random values (kaiming-like, scaled down as basicsr does for RRDB)."""
    import torch

    out = {}
    for name, tensor in state.items():
        if name.endswith("weight") and tensor.dim() > 1:
            fan_in = tensor[0].numel()
            value = torch.randn(tensor.shape, generator=generator) * (2 / fan_in) ** 0.5 * 0.1
        else:
            value = torch.zeros(tensor.shape)
        out[name] = value.to(tensor.dtype)
    return out


# --------------------------------------------------------------------------- R-ESRGAN


def rrdbnet_x4plus_keys(blocks: int = 23, feat: int = 64, grow: int = 32) -> dict[str, tuple]:
    """basicsr's RRDBNet(3, 3, scale=4, num_feat=64, num_block=23, num_grow_ch=32) layout."""
    shapes = {"conv_first": (feat, 3)}
    for block in range(blocks):
        for rdb in (1, 2, 3):
            for conv in range(1, 6):
                out = feat if conv == 5 else grow
                shapes[f"body.{block}.rdb{rdb}.conv{conv}"] = (out, feat + (conv - 1) * grow)
    for name in ("conv_body", "conv_up1", "conv_up2", "conv_hr"):
        shapes[name] = (feat, feat)
    shapes["conv_last"] = (3, feat)
    keys = {}
    for name, (out, inp) in shapes.items():
        keys[f"{name}.weight"] = (out, inp, 3, 3)
        keys[f"{name}.bias"] = (out,)
    return keys


def write_realesrgan(webui: Path) -> None:
    import torch
    from spandrel import ModelLoader

    generator = torch.Generator().manual_seed(SEED)
    state = _randomise({k: torch.empty(s) for k, s in rrdbnet_x4plus_keys().items()}, generator)
    target = webui / "models" / "RealESRGAN" / "RealESRGAN_x4plus.pth"
    _save({"params_ema": state}, target, webui)
    loaded = ModelLoader().load_from_file(str(target))
    assert (loaded.architecture, loaded.scale) == ("ESRGAN", 4), (loaded.architecture, loaded.scale)


def esrgan_old_keys(blocks: int = 23) -> dict[str, tuple]:
    """The same network in the original ESRGAN repository's layout (KAIR's ESRGAN.pth): one
    nn.Sequential, `model.N`, the trunk's RRDBs under `model.1.sub`."""
    layers = {"conv_first": "model.0", "conv_body": f"model.1.sub.{blocks}", "conv_up1": "model.3"}
    layers |= {"conv_up2": "model.6", "conv_hr": "model.8", "conv_last": "model.10"}
    keys = {}
    for key, shape in rrdbnet_x4plus_keys(blocks).items():
        layer, kind = key.rsplit(".", 1)
        if layer.startswith("body."):
            _, block, rdb, conv = layer.split(".")
            old = f"model.1.sub.{block}.RDB{rdb[3:]}.{conv}.0"
        else:
            old = layers[layer]
        keys[f"{old}.{kind}"] = shape
    return keys


# --------------------------------------------------------------------------- face restoration


def write_restorers(webui: Path) -> None:
    import torch
    from spandrel import ModelLoader
    from spandrel.architectures.CodeFormer import CodeFormer
    from spandrel.architectures.GFPGAN import GFPGANv1Clean

    made = (
        (CodeFormer(), webui / "models" / "Codeformer" / "codeformer-v0.1.0.pth", "CodeFormer"),
        (
            GFPGANv1Clean(
                out_size=512,
                num_style_feat=512,
                channel_multiplier=2,
                fix_decoder=False,
                num_mlp=8,
                input_is_latent=True,
                different_w=True,
                narrow=1,
                sft_half=True,
            ),
            webui / "models" / "GFPGAN" / "GFPGANv1.4.pth",
            "GFPGAN",
        ),
    )
    for model, target, architecture in made:
        torch.manual_seed(SEED)
        _save({"params_ema": model.state_dict()}, target, webui)
        loaded = ModelLoader().load_from_file(str(target))
        assert loaded.architecture == architecture, (target, loaded.architecture)


def write_facexlib(webui: Path) -> None:
    import torch
    from facexlib.detection.retinaface import RetinaFace
    from facexlib.parsing.parsenet import ParseNet

    torch.manual_seed(SEED)
    detector = RetinaFace(network_name="resnet50", half=False, device="cpu")
    with torch.no_grad():
        for head in detector.ClassHead:
            conv = head.conv1x1
            conv.weight.zero_()
            # Channels are (background, face) per anchor: background wins everywhere.
            conv.bias.copy_(torch.tensor([10.0, -10.0]).repeat(conv.bias.numel() // 2))
    folder = webui / "models" / "GFPGAN"
    _save(detector.state_dict(), folder / "detection_Resnet50_Final.pth", webui)
    parser = ParseNet(in_size=512, out_size=512, parsing_ch=19)
    _save(parser.state_dict(), folder / "parsing_parsenet.pth", webui)
    # facexlib loads both strictly, from models/GFPGAN as A1111 patches it to.
    from facexlib.detection import init_detection_model
    from facexlib.parsing import init_parsing_model

    reloaded = init_detection_model("retinaface_resnet50", device="cpu", model_rootpath=str(folder))
    with torch.no_grad():
        found = reloaded.detect_faces(_noise_bgr(640), 0.5)
    assert len(found) == 0, f"the neutralised detector still finds {len(found)} faces"
    init_parsing_model("parsenet", device="cpu", model_rootpath=str(folder))


def _noise_bgr(size: int):
    import numpy as np

    return np.random.default_rng(SEED).integers(0, 256, (size, size, 3), dtype=np.uint8)


# --------------------------------------------------------------------------- ADetailer


def write_yolo(webui: Path) -> None:
    import torch
    from ultralytics import YOLO, __version__
    from ultralytics.nn.tasks import DetectionModel

    folder = webui / "models" / "adetailer"
    for name, forced in (("face_yolov8n.pt", False), ("face_yolov8n_always.pt", True)):
        torch.manual_seed(SEED)
        model = DetectionModel("yolov8n.yaml", nc=1, verbose=False)
        model.names = {0: "face"}
        if forced:
            with torch.no_grad():
                for branch in model.model[-1].cv3:
                    branch[-1].bias.fill_(10.0)
        checkpoint = {
            "model": model.half(),
            "train_args": {"model": "yolov8n.yaml", "task": "detect", "imgsz": 640},
            "date": "2026-01-01T00:00:00",
            "version": __version__,
        }
        _save(checkpoint, folder / name)
        found = YOLO(str(folder / name))(_noise_bgr(64), conf=0.3, device="cpu", verbose=False)
        boxes = len(found[0].boxes)
        assert (boxes > 0) == forced, f"{name}: {boxes} detections"


# --------------------------------------------------------------------------- DeepDanbooru

# The published model's tag count (its last layer's width).
TAGS = 9176


def write_deepdanbooru(webui: Path, target: Path) -> None:
    import sys

    import torch

    _a1111_safe(webui)  # A1111 on sys.path
    # Its import reaches modules.shared, which parses sys.argv as A1111's command line.
    sys.argv[1:] = []
    from modules import deepbooru_model

    torch.manual_seed(SEED)
    model = deepbooru_model.DeepDanbooruModel()
    state = dict(model.state_dict())
    state["tags"] = [f"tag_{i:05d}" for i in range(TAGS)]
    _save(state, target, webui)


# --------------------------------------------------------------------------- upscalers on demand


def _random_state(keys: dict[str, tuple]) -> dict:
    import torch

    generator = torch.Generator().manual_seed(SEED)
    return _randomise({k: torch.empty(s) for k, s in keys.items()}, generator)


def anime6b_file() -> dict:
    """RealESRGAN_x4plus_anime_6B.pth: RRDBNet with 6 blocks, in basicsr's layout."""
    return {"params_ema": _random_state(rrdbnet_x4plus_keys(blocks=6))}


def esrgan_4x_file() -> dict:
    """KAIR's ESRGAN.pth: a bare state dict in the old layout."""
    return _random_state(esrgan_old_keys())


def swinir_4x_file() -> dict:
    """003_realSR_BSRGAN_DFOWMFC_s64w8_SwinIR-L_x4_GAN.pth: SwinIR-L as SwinIR's own test script
    builds it for that file, with the network's own initialisation, under "params_ema"."""
    import torch
    from spandrel.architectures.SwinIR.arch.SwinIR import SwinIR

    torch.manual_seed(SEED)
    model = SwinIR(
        upscale=4,
        img_size=64,
        window_size=8,
        img_range=1.0,
        depths=[6] * 9,
        embed_dim=240,
        num_heads=[8] * 9,
        mlp_ratio=2,
        upsampler="nearest+conv",
        resi_connection="3conv",
    )
    return {"params_ema": model.state_dict()}


# name -> (its file's contents, the architecture and tags spandrel must see in it)
UPSCALERS = {
    "R-ESRGAN 4x+ Anime6B": (anime6b_file, "ESRGAN", {"64nf", "6nb"}),
    "ESRGAN_4x": (esrgan_4x_file, "ESRGAN", {"64nf", "23nb"}),
    "SwinIR 4x": (swinir_4x_file, "SwinIR", {"large", "s64w8", "240dim", "3conv"}),
}


def write_upscaler(webui: Path, name: str, target: Path) -> None:
    """One upscaler's file, kept only if spandrel loads it as A1111 expects and it upscales 4x."""
    make, architecture, tags = UPSCALERS[name]
    state = make()
    _save(state, target, webui)
    try:
        _check_upscaler(target, architecture, tags, state.get("params_ema", state))
    except BaseException:
        target.unlink()
        raise


def _check_upscaler(target: Path, architecture: str, tags: set, state: dict) -> None:
    import torch
    from spandrel import ModelLoader

    loaded = ModelLoader().load_from_file(str(target))
    seen = (loaded.architecture, loaded.scale, set(loaded.tags) >= tags)
    assert seen == (architecture, 4, True), (target, seen, loaded.tags)
    # spandrel converts other layouts to its own: the same keys mean the file's took no converting
    # for SwinIR and the old ESRGAN layout, and a complete conversion for basicsr's.
    assert len(loaded.model.state_dict()) == len(state), (target, len(state))
    with torch.no_grad():
        out = loaded.model(torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(SEED)))
    assert out.shape == (1, 3, 64, 64) and bool(torch.isfinite(out).all()), (target, out.shape)
    assert float(out.std()) > 0, f"{target}: a flat image"


# --------------------------------------------------------------------------- A1111 script


def install_threads_script(webui: Path) -> None:
    digest = hashlib.sha256(THREADS_SCRIPT.read_bytes()).hexdigest()
    if digest != THREADS_SCRIPT_SHA256:
        raise SystemExit(f"{THREADS_SCRIPT} changed: set THREADS_SCRIPT_SHA256 = {digest!r}")
    target = webui / "scripts" / THREADS_SCRIPT.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(THREADS_SCRIPT, target)
    print(f"tool weights: {target}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--webui", type=Path, required=True)
    parser.add_argument("--hf-home", type=Path)
    parser.add_argument("--deepdanbooru", type=Path, help="make only this DeepDanbooru file")
    parser.add_argument("--upscaler", choices=sorted(UPSCALERS), help="make only this upscaler's")
    parser.add_argument("--out", type=Path, help="where --upscaler's file goes")
    args = parser.parse_args()
    if args.deepdanbooru:
        write_deepdanbooru(args.webui, args.deepdanbooru)
        return
    if args.upscaler:
        if args.out is None:
            parser.error("--upscaler needs --out")
        write_upscaler(args.webui, args.upscaler, args.out)
        return
    # ultralytics writes its settings file at import unless told where: not in $HOME.
    os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="yolo-config-"))
    install_threads_script(args.webui)
    write_realesrgan(args.webui)
    write_facexlib(args.webui)
    write_restorers(args.webui)
    write_yolo(args.webui)


if __name__ == "__main__":
    main()
