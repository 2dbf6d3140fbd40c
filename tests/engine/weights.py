"""Makes, without any download, the files a real A1111 v1.9.3 needs to load SD1.5 offline.

Run by tests/engine/build.py with the engine's own Python (torch 2.1.2, transformers 4.30.2):

    python weights.py --webui WEBUI_DIR --hf-home HF_HOME

- the openai/clip-vit-large-patch14 tokenizer and text config in HF_HOME's hub cache
  (docker/clip_tokenizer.py);
- models/Stable-diffusion/random-sd15.safetensors: A1111's own configs/v1-inference.yaml
  instantiated with a fixed seed (the real SD1.5 layout), fp16;
- models/Lora/lcm.safetensors and detail-tweaker.safetensors: small kohya-style LoRAs.

Random initialisation leaves some UNet layers at zero (ldm's zero_module), which would make every
picture depend on seed and size only; they get small random values so that prompts, LoRAs and
settings visibly change the pixels.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

SEED = 1234
TOKENIZER = Path(__file__).resolve().parents[2] / "docker" / "clip_tokenizer.py"


def _clip_tokenizer():
    # docker/clip_tokenizer.py is shared with the image's build, where it runs on its own.
    spec = importlib.util.spec_from_file_location("clip_tokenizer", TOKENIZER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- checkpoint


def _offline_text_model() -> None:
    """ldm's FrozenCLIPEmbedder downloads CLIP's weights: build it from the cached config."""
    import transformers

    def from_config(name, *_args, **_kwargs):
        return transformers.CLIPTextModel(transformers.CLIPTextConfig.from_pretrained(name))

    transformers.CLIPTextModel.from_pretrained = from_config


def _unzero(state: dict, generator) -> int:
    import torch

    filled = 0
    for name, tensor in state.items():
        if name.startswith("model.diffusion_model.") and not torch.count_nonzero(tensor):
            tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.02)
            filled += 1
    return filled


def write_checkpoint(webui: Path) -> None:
    import torch
    from omegaconf import OmegaConf
    from safetensors.torch import save_file

    sys.path.insert(0, str(webui / "repositories" / "stable-diffusion-stability-ai"))
    from ldm.util import instantiate_from_config

    _offline_text_model()
    torch.manual_seed(SEED)
    config = OmegaConf.load(webui / "configs" / "v1-inference.yaml")
    model = instantiate_from_config(config.model)
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    del model
    filled = _unzero(state, torch.Generator().manual_seed(SEED))
    state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    target = webui / "models" / "Stable-diffusion" / "random-sd15.safetensors"
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(target))
    print(f"weights: checkpoint {len(state)} tensors ({filled} un-zeroed) -> {target}")


# --------------------------------------------------------------------------- LoRAs

# (kohya module name, in features, out features): attention projections of the UNet and CLIP.
LORA_MODULES = (
    ("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q", 320, 320),
    ("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k", 768, 320),
    ("lora_unet_mid_block_attentions_0_transformer_blocks_0_attn1_to_v", 1280, 1280),
    ("lora_te_text_model_encoder_layers_0_self_attn_q_proj", 768, 768),
)


def write_lora(webui: Path, name: str, seed: int, rank: int = 4) -> None:
    import torch
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for module, fan_in, fan_out in LORA_MODULES:
        down = torch.randn(rank, fan_in, generator=generator) * 0.05
        up = torch.randn(fan_out, rank, generator=generator) * 0.05
        tensors[f"{module}.lora_down.weight"] = down.half()
        tensors[f"{module}.lora_up.weight"] = up.half()
        tensors[f"{module}.alpha"] = torch.tensor(float(rank)).half()
    target = webui / "models" / "Lora" / f"{name}.safetensors"
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(target), metadata={"ss_network_module": "networks.lora"})
    print(f"weights: LoRA {name} -> {target}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--webui", type=Path, required=True)
    parser.add_argument("--hf-home", type=Path, required=True)
    args = parser.parse_args()
    tokenizer = _clip_tokenizer()
    tokenizer.write_tokenizer(args.hf_home)
    tokenizer.check_tokenizer()
    for seed, name in enumerate(("lcm", "detail-tweaker"), start=SEED):
        write_lora(args.webui, name, seed)
    write_checkpoint(args.webui)


if __name__ == "__main__":
    main()
