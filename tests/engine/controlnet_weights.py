"""Makes, without any download, an SD1.5 ControlNet with random weights in the real layout:

    python controlnet_weights.py --webui WEBUI_DIR --hf-home HF_HOME

Run by tests/engine/build.py (EXTRA_WEIGHTS) with the engine's own Python, after the base build.
It instantiates the extension's own ControlNet class (scripts/cldm.py) with the config the
extension builds for every SD1.5 ControlNet (controlnet_default_config in
scripts/controlnet_model_guess.py, read from the source, plus a 3-channel hint), fills the
zero-initialised tensors (zero convs) with small noise so that the model changes the picture,
and writes webui/models/ControlNet/control_v11p_sd15_canny.safetensors in fp16.

The extension loads ControlNets with load_state_dict(strict=False): a file with the wrong key set
would load "successfully" and do nothing, so the key and parameter counts of the real SD1.5
ControlNets are checked (340 tensors, 361,279,120 parameters).
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import sys
import types
from pathlib import Path

SEED = 1234
NAME = "control_v11p_sd15_canny.safetensors"
KEYS = 340
PARAMETERS = 361_279_120
# The extension's zero_module()s: the outputs into the UNet and the hint encoder's last conv.
ZERO_INIT = ("zero_convs.", "middle_block_out.", "input_hint_block.")


def default_config(extension: Path) -> dict:
    """controlnet_default_config, read from the extension's source (importing that module
    would pull in most of A1111)."""
    source = (extension / "scripts" / "controlnet_model_guess.py").read_text()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == (
            "controlnet_default_config"
        ):
            return ast.literal_eval(node.value)
    raise SystemExit("controlnet_default_config not found in the extension")


def _stub_a1111() -> None:
    # cldm.py imports A1111's `modules.devices` only to pick a device at run time.
    import torch

    devices = types.ModuleType("modules.devices")
    devices.get_device_for = lambda _name: torch.device("cpu")
    devices.dtype_unet = torch.float16
    modules = types.ModuleType("modules")
    modules.devices = devices
    sys.modules.update({"modules": modules, "modules.devices": devices})


def _extension_scripts(extension: Path) -> None:
    # generative-models has its own top-level `scripts` package: pin the extension's.
    spec = importlib.util.spec_from_file_location(
        "scripts", extension / "scripts" / "__init__.py", submodule_search_locations=[]
    )
    package = importlib.util.module_from_spec(spec)
    package.__path__ = [str(extension / "scripts")]
    sys.modules["scripts"] = package


def control_net_class(webui: Path):
    extension = webui / "extensions" / "sd-webui-controlnet"
    for repo in ("generative-models", "stable-diffusion-stability-ai"):
        sys.path.insert(0, str(webui / "repositories" / repo))
    sys.path.insert(0, str(extension))
    _stub_a1111()
    _extension_scripts(extension)
    from scripts.cldm import ControlNet

    return ControlNet, default_config(extension)


def write_controlnet(webui: Path) -> Path:
    import torch
    from safetensors.torch import save_file

    control_net, config = control_net_class(webui)
    torch.manual_seed(SEED)
    model = control_net(**config, hint_channels=3)
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    del model
    params = sum(t.numel() for t in state.values())
    if (len(state), params) != (KEYS, PARAMETERS):
        raise SystemExit(
            f"controlnet: {len(state)} tensors / {params} parameters, not the {KEYS} / "
            f"{PARAMETERS} of an SD1.5 ControlNet: the extension would load it as garbage"
        )
    generator = torch.Generator().manual_seed(SEED)
    filled = 0
    for name, tensor in state.items():
        if name.startswith(ZERO_INIT) and not torch.count_nonzero(tensor):
            tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.01)
            filled += 1
    target = webui / "models" / "ControlNet" / NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.half() for k, v in state.items()}, str(target))
    print(f"weights: ControlNet {len(state)} tensors, {params} parameters ({filled} un-zeroed)")
    print(f"weights: -> {target}")
    return target


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--webui", type=Path, required=True)
    parser.add_argument("--hf-home", type=Path, required=True)  # the builder's common signature
    args = parser.parse_args()
    write_controlnet(args.webui)


if __name__ == "__main__":
    main()
