"""Static facts about the emulated A1111 v1.9.3 install: samplers, schedulers, upscalers,
checkpoints, VAEs, LoRAs, command-line flags and the like.

Everything here is a hand-written table of facts about A1111 v1.9.3 (started API-only on CPU
with one SD 1.5 checkpoint, no hashing); nothing is read from disk at run time.
"""

from __future__ import annotations

import os

VERSION = "1.9.3"
ROOT = "/stable-diffusion-webui"

# --- samplers: (name, aliases, options); order as A1111 lists them ---------------------------
SAMPLERS: tuple[tuple[str, tuple[str, ...], dict[str, str]], ...] = (
    ("DPM++ 2M", ("k_dpmpp_2m",), {"scheduler": "karras"}),
    (
        "DPM++ SDE",
        ("k_dpmpp_sde",),
        {"scheduler": "karras", "second_order": "True", "brownian_noise": "True"},
    ),
    ("DPM++ 2M SDE", ("k_dpmpp_2m_sde",), {"scheduler": "exponential", "brownian_noise": "True"}),
    (
        "DPM++ 2M SDE Heun",
        ("k_dpmpp_2m_sde_heun",),
        {"scheduler": "exponential", "brownian_noise": "True", "solver_type": "heun"},
    ),
    (
        "DPM++ 2S a",
        ("k_dpmpp_2s_a",),
        {"scheduler": "karras", "uses_ensd": "True", "second_order": "True"},
    ),
    (
        "DPM++ 3M SDE",
        ("k_dpmpp_3m_sde",),
        {
            "scheduler": "exponential",
            "discard_next_to_last_sigma": "True",
            "brownian_noise": "True",
        },
    ),
    ("Euler a", ("k_euler_a", "k_euler_ancestral"), {"uses_ensd": "True"}),
    ("Euler", ("k_euler",), {}),
    ("LMS", ("k_lms",), {}),
    ("Heun", ("k_heun",), {"second_order": "True"}),
    (
        "DPM2",
        ("k_dpm_2",),
        {"scheduler": "karras", "discard_next_to_last_sigma": "True", "second_order": "True"},
    ),
    (
        "DPM2 a",
        ("k_dpm_2_a",),
        {
            "scheduler": "karras",
            "discard_next_to_last_sigma": "True",
            "uses_ensd": "True",
            "second_order": "True",
        },
    ),
    ("DPM fast", ("k_dpm_fast",), {"uses_ensd": "True"}),
    ("DPM adaptive", ("k_dpm_ad",), {"uses_ensd": "True"}),
    ("Restart", ("restart",), {"scheduler": "karras", "second_order": "True"}),
    ("DDIM", ("ddim",), {}),
    ("PLMS", ("plms",), {}),
    ("UniPC", ("unipc",), {}),
    ("LCM", ("k_lcm",), {}),
)
SAMPLER_NAMES = frozenset(s[0] for s in SAMPLERS)
# Samplers that are not k-diffusion ones ignore the scheduler entirely.
COMPVIS_SAMPLERS = frozenset({"DDIM", "PLMS", "UniPC"})


def sampler_options(name: str) -> dict[str, str]:
    for sname, _aliases, options in SAMPLERS:
        if sname == name:
            return options
    return {}


# --- schedulers: (name, label, aliases, default_rho, need_inner_model) ----------------------
SCHEDULERS: tuple[tuple[str, str, list[str] | None, float, bool], ...] = (
    ("automatic", "Automatic", None, -1.0, False),
    ("uniform", "Uniform", None, -1.0, True),
    ("karras", "Karras", None, 7.0, False),
    ("exponential", "Exponential", None, -1.0, False),
    ("polyexponential", "Polyexponential", None, 1.0, False),
    ("sgm_uniform", "SGM Uniform", ["SGMUniform"], -1.0, True),
)


def find_scheduler(name) -> tuple[str, str] | None:
    """(name, label) of a scheduler given by name or label (A1111's schedulers_map)."""
    if not isinstance(name, str) or not name:
        return None
    for sname, label, _aliases, _rho, _inner in SCHEDULERS:
        if name in (sname, label):
            return sname, label
    return None


# --- upscalers: (name, model_name, model_path, scale) ---------------------------------------
_KAIR = "https://github.com/cszn/KAIR/releases/download/v1.0"
_RESRGAN = "https://github.com/xinntao/Real-ESRGAN/releases/download"
_DAT = "https://github.com/n0kovo/dat_upscaler_models/raw/main/DAT"
UPSCALERS: tuple[tuple[str, str | None, str | None, float], ...] = (
    ("None", None, None, 4),
    ("Lanczos", None, None, 4),
    ("Nearest", None, None, 4),
    ("DAT x2", "DAT x2", f"{_DAT}/DAT_x2.pth", 2),
    ("DAT x3", "DAT x3", f"{_DAT}/DAT_x3.pth", 3),
    ("DAT x4", "DAT x4", f"{_DAT}/DAT_x4.pth", 4),
    ("ESRGAN_4x", "ESRGAN_4x", f"{_KAIR}/ESRGAN.pth", 4),
    ("LDSR", None, "https://heibox.uni-heidelberg.de/f/578df07c8fc04ffbadf3/?dl=1", 4),
    ("R-ESRGAN 4x+", None, f"{_RESRGAN}/v0.1.0/RealESRGAN_x4plus.pth", 4),
    (
        "R-ESRGAN 4x+ Anime6B",
        None,
        f"{_RESRGAN}/v0.2.2.4/RealESRGAN_x4plus_anime_6B.pth",
        4,
    ),
    ("ScuNET GAN", "ScuNET GAN", f"{_KAIR}/scunet_color_real_gan.pth", 4),
    ("ScuNET PSNR", "ScuNET PSNR", f"{_KAIR}/scunet_color_real_psnr.pth", 4),
    (
        "SwinIR 4x",
        "SwinIR 4x",
        "https://github.com/JingyunLiang/SwinIR/releases/download/v0.0/"
        "003_realSR_BSRGAN_DFOWMFC_s64w8_SwinIR-L_x4_GAN.pth",
        4,
    ),
)
UPSCALER_NAMES = frozenset(u[0] for u in UPSCALERS)

REALESRGAN_MODELS: tuple[tuple[str, str, int], ...] = (
    ("R-ESRGAN General 4xV3", f"{_RESRGAN}/v0.2.5.0/realesr-general-x4v3.pth", 4),
    ("R-ESRGAN General WDN 4xV3", f"{_RESRGAN}/v0.2.5.0/realesr-general-wdn-x4v3.pth", 4),
    ("R-ESRGAN AnimeVideo", f"{_RESRGAN}/v0.2.5.0/realesr-animevideov3.pth", 4),
    ("R-ESRGAN 4x+", f"{_RESRGAN}/v0.1.0/RealESRGAN_x4plus.pth", 4),
    ("R-ESRGAN 4x+ Anime6B", f"{_RESRGAN}/v0.2.2.4/RealESRGAN_x4plus_anime_6B.pth", 4),
    ("R-ESRGAN 2x+", f"{_RESRGAN}/v0.2.1/RealESRGAN_x2plus.pth", 2),
)

LATENT_UPSCALE_MODES = (
    "Latent",
    "Latent (antialiased)",
    "Latent (bicubic)",
    "Latent (bicubic antialiased)",
    "Latent (nearest)",
    "Latent (nearest-exact)",
)

# cmd_dir is never set in 1.9.3: null for both, weights or not (seen on the real engine).
FACE_RESTORERS = (
    ("CodeFormer", None),
    ("GFPGAN", None),
)

# Selectable scripts (script_name) and always-on scripts (alwayson_scripts keys), lower case,
# as A1111 v1.9.3 ships them without extensions.
SELECTABLE_SCRIPTS = {
    "txt2img": ("prompt matrix", "prompts from file or textbox", "x/y/z plot"),
    "img2img": (
        "img2img alternative test",
        "loopback",
        "outpainting mk2",
        "poor man's outpainting",
        "prompt matrix",
        "prompts from file or textbox",
        "sd upscale",
        "x/y/z plot",
    ),
}
ALWAYSON_SCRIPTS = {
    "txt2img": ("extra options", "hypertile", "refiner", "seed", "sampler", "comments"),
    "img2img": (
        "extra options",
        "hypertile",
        "refiner",
        "seed",
        "sampler",
        "comments",
        "soft inpainting",
    ),
}

# --- default model files -------------------------------------------------------------------
DEFAULT_MODELS = ("random-sd15.safetensors", "v1-5-pruned-emaonly.safetensors")
DEFAULT_VAES = ("vae-ft-mse-840000-ema-pruned.safetensors",)
DEFAULT_LORAS = ("detail-tweaker", "lcm")
# tests/engine/controlnet_weights.py's model, under the name the real extension lists it by.
DEFAULT_CONTROLNET_MODELS = ("control_v11p_sd15_canny [5dc30e26]",)


def model_name_of(title: str) -> str:
    return os.path.splitext(title)[0]


def sd_model_item(title: str) -> dict:
    return {
        "title": title,
        "model_name": model_name_of(title),
        "hash": None,
        "sha256": None,
        "filename": f"{ROOT}/models/Stable-diffusion/{title}",
        "config": None,
    }


def vae_item(name: str) -> dict:
    return {"model_name": name, "filename": f"{ROOT}/models/VAE/{name}"}


def lora_item(name: str, base_model: str) -> dict:
    dim = 4 + 4 * (sum(map(ord, name)) % 2)
    return {
        "name": name,
        "alias": name,
        "path": f"{ROOT}/models/Lora/{name}.safetensors",
        "metadata": {
            "ss_sd_model_name": base_model,
            "ss_tag_frequency": {"1_subject": {"subject": 3, "random": 1}},
            "ss_network_alpha": f"{float(dim)}",
            "ss_network_dim": str(dim),
            "ss_network_module": "networks.lora",
            "ss_output_name": name,
            "modelspec.title": name,
            "ss_base_model_version": "sd_v1",
        },
    }


def embedding_item() -> dict:
    return {
        "step": None,
        "sd_checkpoint": None,
        "sd_checkpoint_name": None,
        "shape": 768,
        "vectors": 1,
    }


def cmd_flags(port: int, server_name: str, ckpt_title: str) -> dict:
    """`GET /sdapi/v1/cmd-flags` for `webui.py --nowebui --api` started as the README says."""
    models = f"{ROOT}/models"
    return {
        "f": False,
        "update_all_extensions": False,
        "skip_python_version_check": True,
        "skip_torch_cuda_test": True,
        "reinstall_xformers": False,
        "reinstall_torch": False,
        "update_check": False,
        "test_server": False,
        "log_startup": False,
        "skip_prepare_environment": True,
        "skip_install": True,
        "dump_sysinfo": False,
        "loglevel": None,
        "do_not_download_clip": False,
        "data_dir": ROOT,
        "config": f"{ROOT}/configs/v1-inference.yaml",
        "ckpt": f"{models}/Stable-diffusion/{ckpt_title}",
        "ckpt_dir": None,
        "vae_dir": None,
        "gfpgan_dir": f"{ROOT}/GFPGAN",
        "gfpgan_model": None,
        "no_half": True,
        "no_half_vae": False,
        "no_progressbar_hiding": False,
        "max_batch_count": 16,
        "embeddings_dir": f"{ROOT}/embeddings",
        "textual_inversion_templates_dir": f"{ROOT}/textual_inversion_templates",
        "hypernetwork_dir": f"{models}/hypernetworks",
        "localizations_dir": f"{ROOT}/localizations",
        "allow_code": False,
        "medvram": False,
        "medvram_sdxl": False,
        "lowvram": False,
        "lowram": False,
        "always_batch_cond_uncond": False,
        "unload_gfpgan": False,
        "precision": "full",
        "upcast_sampling": False,
        "share": False,
        "ngrok": None,
        "ngrok_region": "",
        "ngrok_options": {},
        "enable_insecure_extension_access": False,
        "codeformer_models_path": f"{models}/Codeformer",
        "gfpgan_models_path": f"{models}/GFPGAN",
        "esrgan_models_path": f"{models}/ESRGAN",
        "bsrgan_models_path": f"{models}/BSRGAN",
        "realesrgan_models_path": f"{models}/RealESRGAN",
        "dat_models_path": f"{models}/DAT",
        "clip_models_path": None,
        "xformers": False,
        "force_enable_xformers": False,
        "xformers_flash_attention": False,
        "deepdanbooru": False,
        "opt_split_attention": False,
        "opt_sub_quad_attention": False,
        "sub_quad_q_chunk_size": 1024,
        "sub_quad_kv_chunk_size": None,
        "sub_quad_chunk_threshold": None,
        "opt_split_attention_invokeai": False,
        "opt_split_attention_v1": False,
        "opt_sdp_attention": False,
        "opt_sdp_no_mem_attention": False,
        "disable_opt_split_attention": False,
        "disable_nan_check": False,
        "use_cpu": ["all"],
        "use_ipex": False,
        "disable_model_loading_ram_optimization": False,
        "listen": server_name == "0.0.0.0",
        "port": str(port),
        "show_negative_prompt": False,
        "ui_config_file": f"{ROOT}/ui-config.json",
        "hide_ui_dir_config": False,
        "freeze_settings": False,
        "freeze_settings_in_sections": None,
        "freeze_specific_settings": None,
        "ui_settings_file": f"{ROOT}/config.json",
        "gradio_debug": False,
        "gradio_auth": None,
        "gradio_auth_path": None,
        "gradio_img2img_tool": None,
        "gradio_inpaint_tool": None,
        "gradio_allowed_path": [ROOT],
        "opt_channelslast": False,
        "styles_file": [f"{ROOT}/styles.csv"],
        "autolaunch": False,
        "theme": None,
        "use_textbox_seed": False,
        "disable_console_progressbars": False,
        "enable_console_prompts": False,
        "vae_path": None,
        "disable_safe_unpickle": True,
        "api": True,
        "api_auth": None,
        "api_log": False,
        "nowebui": True,
        "ui_debug_mode": False,
        "device_id": None,
        "administrator": False,
        "cors_allow_origins": None,
        "cors_allow_origins_regex": None,
        "tls_keyfile": None,
        "tls_certfile": None,
        "disable_tls_verify": None,
        "server_name": server_name,
        "gradio_queue": True,
        "no_gradio_queue": False,
        "skip_version_check": True,
        "no_hashing": True,
        "no_download_sd_model": True,
        "subpath": None,
        "add_stop_route": False,
        "api_server_stop": False,
        "timeout_keep_alive": 30,
        "disable_all_extensions": False,
        "disable_extra_extensions": False,
        "skip_load_model_at_start": False,
        "unix_filenames_sanitization": False,
        "filenames_max_length": 128,
        "no_prompt_history": False,
        "ldsr_models_path": f"{models}/LDSR",
        "lora_dir": f"{models}/Lora",
        "lyco_dir_backcompat": f"{models}/LyCORIS",
        "scunet_models_path": f"{models}/ScuNET",
        "swinir_models_path": f"{models}/SwinIR",
        **EXTENSION_FLAGS,
    }


# The preload flags of the two extensions the image has (ControlNet, ADetailer), after A1111's
# own; start.sh passes --ad-no-huggingface. (The recordings were made without the extensions.)
EXTENSION_FLAGS = {
    "controlnet_dir": None,
    "controlnet_annotator_models_path": None,
    "no_half_controlnet": None,
    "controlnet_preprocessor_cache_size": 16,
    "controlnet_loglevel": "INFO",
    "controlnet_tracemalloc": None,
    "ad_no_huggingface": True,
}


def memory() -> dict:
    """`GET /sdapi/v1/memory` on a CPU-only host: RAM from /proc/meminfo when readable."""
    total = 25_276_514_304.0
    free = 15_985_815_552.0
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            info = {}
            for line in fh:
                key, _, rest = line.partition(":")
                info[key] = int(rest.split()[0]) * 1024
        total = float(info["MemTotal"])
        free = float(info.get("MemAvailable", info["MemFree"]))
    except (OSError, KeyError, ValueError, IndexError):
        pass
    return {
        "ram": {"free": free, "used": int(total - free), "total": total},
        "cuda": {"error": "unavailable"},
    }
