"""A1111's routes: the table of paths and methods, and the handlers of the simple ones
(generation and image routes live in processing.py and postprocess.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import adetailer, catalog, controlnet, postprocess, processing, schema
from .errors import A1111Error
from .messages import Request

if TYPE_CHECKING:
    from .app import App

Handler = Callable[["App", Request], Any]


def _body_dict(req: Request) -> dict:
    return schema.parse_dict_body(req.body, req.content_type)


def get_progress(app: App, req: Request) -> dict:
    skip = schema.parse_query_bool(req.query, "skip_current_image", False)
    return app.state.progress(
        skip,
        app.options.get("show_progress_every_n_steps"),
        app.options.get("live_previews_enable"),
    )


def post_interrupt(app: App, req: Request) -> dict:
    app.state.interrupt()
    app.stats.interrupted()
    return {}


def post_skip(app: App, req: Request) -> None:
    app.state.skip()


def get_options(app: App, req: Request) -> dict:
    return app.options.response()


def post_options(app: App, req: Request) -> None:
    body = _body_dict(req)
    checkpoint = body.get("sd_model_checkpoint")
    if checkpoint is not None and checkpoint not in app.checkpoint_aliases():
        raise A1111Error("RuntimeError", f"model {checkpoint!r} not found")
    for key, value in body.items():
        changed = app.options.set(key, value, is_api=True)
        if changed and key == "sd_model_checkpoint":
            with app.queue_lock:  # wrap_queued_call
                app.wait_model_loaded()
                app.load_selected_model()


def get_cmd_flags(app: App, req: Request) -> dict:
    return catalog.cmd_flags(app.port, app.host, app.cli_config.models[0])


def get_samplers(app: App, req: Request) -> list:
    return [
        {"name": name, "aliases": list(aliases), "options": dict(options)}
        for name, aliases, options in catalog.SAMPLERS
    ]


def get_schedulers(app: App, req: Request) -> list:
    return [
        {
            "name": name,
            "label": label,
            "aliases": list(aliases) if aliases else None,
            "default_rho": rho,
            "need_inner_model": inner,
        }
        for name, label, aliases, rho, inner in catalog.SCHEDULERS
    ]


def get_upscalers(app: App, req: Request) -> list:
    return [
        {
            "name": name,
            "model_name": model_name,
            "model_path": path,
            "model_url": None,
            "scale": scale,
        }
        for name, model_name, path, scale in catalog.UPSCALERS
    ]


def get_latent_upscale_modes(app: App, req: Request) -> list:
    return [{"name": name} for name in catalog.LATENT_UPSCALE_MODES]


def get_sd_models(app: App, req: Request) -> list:
    return [catalog.sd_model_item(title) for title in app.config.models]


def get_sd_vae(app: App, req: Request) -> list:
    return [catalog.vae_item(name) for name in app.config.vaes]


def get_hypernetworks(app: App, req: Request) -> list:
    return []


def get_face_restorers(app: App, req: Request) -> list:
    return [{"name": name, "cmd_dir": cmd_dir} for name, cmd_dir in catalog.FACE_RESTORERS]


def get_realesrgan_models(app: App, req: Request) -> list:
    return [
        {"name": name, "path": path, "scale": scale}
        for name, path, scale in catalog.REALESRGAN_MODELS
    ]


def get_prompt_styles(app: App, req: Request) -> list:
    return []


def get_embeddings(app: App, req: Request) -> dict:
    return {
        "loaded": {name: catalog.embedding_item() for name in app.config.embeddings},
        "skipped": {},
    }


def get_memory(app: App, req: Request) -> dict:
    return catalog.memory()


def get_loras(app: App, req: Request) -> list:
    base = app.cli_config.models[0]
    return [catalog.lora_item(name, base) for name in sorted(app.config.loras)]


def get_scripts(app: App, req: Request) -> dict:
    return {
        kind: [*catalog.SELECTABLE_SCRIPTS[kind], *catalog.ALWAYSON_SCRIPTS[kind]]
        for kind in ("txt2img", "img2img")
    }


def get_script_info(app: App, req: Request) -> list:
    out = []
    for kind in ("txt2img", "img2img"):
        for name in catalog.SELECTABLE_SCRIPTS[kind]:
            out.append(
                {"name": name, "is_alwayson": False, "is_img2img": kind == "img2img", "args": []}
            )
        for name in catalog.ALWAYSON_SCRIPTS[kind]:
            out.append(
                {"name": name, "is_alwayson": True, "is_img2img": kind == "img2img", "args": []}
            )
    return out


def get_extensions(app: App, req: Request) -> list:
    return []


def _locked_noop(app: App, req: Request) -> None:
    with app.queue_lock:
        return None


def _noop(app: App, req: Request) -> None:
    return None


def _empty_object(app: App, req: Request) -> dict:
    return {}


def _create(kind: str) -> Handler:
    def handler(app: App, req: Request) -> dict:
        args = _body_dict(req)
        name = args.get("name")
        if not name:
            raise A1111Error(
                "TypeError", f"create_{kind}() missing 1 required positional argument: 'name'"
            )
        folder = "embeddings" if kind == "embedding" else "models/hypernetworks"
        ext = "pt"
        return {"info": f"create {kind} filename: {catalog.ROOT}/{folder}/{name}.{ext}"}

    return handler


def _train(kind: str) -> Handler:
    def handler(app: App, req: Request) -> dict:
        _body_dict(req)
        return {"info": f"train {kind} error: training is not available in the A1111 stand-in"}

    return handler


ROUTES: dict[str, dict[str, Handler]] = {
    "/sdapi/v1/txt2img": {"POST": lambda app, r: processing.txt2img(app, r.body, r.content_type)},
    "/sdapi/v1/img2img": {"POST": lambda app, r: processing.img2img(app, r.body, r.content_type)},
    "/sdapi/v1/extra-single-image": {
        "POST": lambda app, r: postprocess.extras_single(app, r.body, r.content_type)
    },
    "/sdapi/v1/extra-batch-images": {
        "POST": lambda app, r: postprocess.extras_batch(app, r.body, r.content_type)
    },
    "/sdapi/v1/png-info": {
        "POST": lambda app, r: postprocess.png_info(app, r.body, r.content_type)
    },
    "/sdapi/v1/progress": {"GET": get_progress},
    "/sdapi/v1/interrogate": {
        "POST": lambda app, r: postprocess.interrogate(app, r.body, r.content_type)
    },
    "/sdapi/v1/interrupt": {"POST": post_interrupt},
    "/sdapi/v1/skip": {"POST": post_skip},
    "/sdapi/v1/options": {"GET": get_options, "POST": post_options},
    "/sdapi/v1/cmd-flags": {"GET": get_cmd_flags},
    "/sdapi/v1/samplers": {"GET": get_samplers},
    "/sdapi/v1/schedulers": {"GET": get_schedulers},
    "/sdapi/v1/upscalers": {"GET": get_upscalers},
    "/sdapi/v1/latent-upscale-modes": {"GET": get_latent_upscale_modes},
    "/sdapi/v1/sd-models": {"GET": get_sd_models},
    "/sdapi/v1/sd-vae": {"GET": get_sd_vae},
    "/sdapi/v1/hypernetworks": {"GET": get_hypernetworks},
    "/sdapi/v1/face-restorers": {"GET": get_face_restorers},
    "/sdapi/v1/realesrgan-models": {"GET": get_realesrgan_models},
    "/sdapi/v1/prompt-styles": {"GET": get_prompt_styles},
    "/sdapi/v1/embeddings": {"GET": get_embeddings},
    "/sdapi/v1/refresh-embeddings": {"POST": _locked_noop},
    "/sdapi/v1/refresh-checkpoints": {"POST": _locked_noop},
    "/sdapi/v1/refresh-vae": {"POST": _locked_noop},
    "/sdapi/v1/create/embedding": {"POST": _create("embedding")},
    "/sdapi/v1/create/hypernetwork": {"POST": _create("hypernetwork")},
    "/sdapi/v1/train/embedding": {"POST": _train("embedding")},
    "/sdapi/v1/train/hypernetwork": {"POST": _train("hypernetwork")},
    "/sdapi/v1/memory": {"GET": get_memory},
    "/sdapi/v1/unload-checkpoint": {"POST": _empty_object},
    "/sdapi/v1/reload-checkpoint": {"POST": _empty_object},
    "/sdapi/v1/scripts": {"GET": get_scripts},
    "/sdapi/v1/script-info": {"GET": get_script_info},
    "/sdapi/v1/extensions": {"GET": get_extensions},
    "/sdapi/v1/loras": {"GET": get_loras},
    "/sdapi/v1/refresh-loras": {"POST": _noop},
    **adetailer.ROUTES,
    **controlnet.ROUTES,
}
