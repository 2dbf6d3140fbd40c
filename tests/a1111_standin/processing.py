"""What happens inside A1111 for txt2img and img2img: the API checks, the queue lock,
override_settings, A1111's own failures, sampling (time, progress, interrupt), images,
infotexts and the `info` JSON."""

from __future__ import annotations

import json
import random
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PIL import Image

from . import catalog, controlnet, imaging, infotext, schema
from .errors import A1111Error, http_exception
from .options import OPTION_TYPES, RESTRICTED_OPTS

if TYPE_CHECKING:
    from .app import App

_STEP_SLICE = 0.02  # longest sleep between two interrupt checks


def txt2img(app: App, raw: bytes, content_type: str | None) -> dict:
    req = schema.parse_model_body(schema.TXT2IMG_FIELDS, raw, content_type)
    return _api_generate(app, "txt2img", req)


def img2img(app: App, raw: bytes, content_type: str | None) -> dict:
    req = schema.parse_model_body(schema.IMG2IMG_FIELDS, raw, content_type)
    if req["init_images"] is None:
        raise http_exception(404, "Init image not found")
    return _api_generate(app, "img2img", req)


def _check_selectable_script(kind: str, name: Any) -> None:
    if name is None or name == "":
        return
    if name.lower() not in catalog.SELECTABLE_SCRIPTS[kind]:
        raise http_exception(422, f"Script '{name}' not found")


def _check_alwayson_scripts(app: App, kind: str, scripts: Any) -> None:
    extension = controlnet.SCRIPT_TITLES if app.config.controlnet else ()
    for name in scripts or {}:
        if name.lower() not in (*catalog.ALWAYSON_SCRIPTS[kind], *extension):
            raise http_exception(422, f"always on script {name} not found")


def _api_generate(app: App, kind: str, req: dict) -> dict:
    task_id = req["force_task_id"]
    if task_id:
        app.stats.task_id(task_id)
    _check_selectable_script(kind, req["script_name"])
    sampler = req["sampler_name"] or req["sampler_index"]
    if sampler not in catalog.SAMPLER_NAMES:
        raise http_exception(404, "Sampler not found")
    _check_alwayson_scripts(app, kind, req["alwayson_scripts"])
    units = controlnet.enabled_units(app, kind, req) if app.config.controlnet else []
    mask = None
    if kind == "img2img" and req["mask"]:
        mask = imaging.decode_base64_to_image(req["mask"], app.forbid_local())
    with app.generation_slot():
        app.wait_model_loaded()
        init_images = None
        if kind == "img2img":
            init_images = [
                imaging.decode_base64_to_image(x, app.forbid_local()) for x in req["init_images"]
            ]
        result = _run(app, kind, req, sampler, init_images, mask)
        hires = kind == "txt2img" and bool(req["enable_hr"])
        result.images.extend(controlnet.detected_maps(units, req, init_images, hires))
    if req["send_images"]:
        fmt = app.options.get("samples_format")
        quality = app.options.get("jpeg_quality")
        images = [imaging.encode_image(im, fmt, quality) for im in result.images]
    else:
        images = []
    parameters = dict(req)
    if kind == "img2img" and not req["include_init_images"]:
        parameters["init_images"] = None
        parameters["mask"] = None
    return {"images": images, "parameters": parameters, "info": result.js()}


@dataclass
class Result:
    info: dict
    images: list[Image.Image] = field(default_factory=list)

    def js(self) -> str:
        return json.dumps(self.info)


def _run(app: App, kind: str, req: dict, sampler: str, init_images, mask) -> Result:
    """process_images(): state, override_settings (restored afterwards), processing."""
    state, opts = app.state, app.options
    state.begin(job=f"scripts_{kind}")
    try:
        overrides = {
            k: v for k, v in (req["override_settings"] or {}).items() if k not in RESTRICTED_OPTS
        }
        stored = {k: opts.raw(k) for k in overrides if k in OPTION_TYPES}
        try:
            if app.checkpoint_title(overrides.get("sd_model_checkpoint")) is None:
                overrides.pop("sd_model_checkpoint", None)
            app.load_selected_model()
            for key, value in overrides.items():
                opts.set(key, value, is_api=True)
                if key == "sd_model_checkpoint":
                    app.load_selected_model()
            return Processing(app, kind, req, sampler, init_images, mask).run()
        finally:
            if req["override_settings_restore_afterwards"]:
                for key, value in stored.items():
                    opts.put_back(key, value)
    finally:
        state.end()


def strip_comments(text: str) -> str:
    text = re.sub(r"(^|\n)#[^\n]*(\n|$)", "\n", text)
    text = re.sub(r"#[^\n]*(\n|$)", "\n", text)
    return text


def fixed_seed(seed: Any) -> int:
    if seed is None or seed == "":
        seed = -1
    if seed == -1:
        return random.randrange(4294967294)
    return int(seed)


class Processing:
    """One StableDiffusionProcessing{Txt2Img,Img2Img} run (inside the queue lock)."""

    def __init__(self, app: App, kind: str, req: dict, sampler: str, init_images, mask):
        self.app, self.kind, self.req, self.sampler = app, kind, req, sampler
        self.init_images = init_images
        self.mask = mask
        self.opts = app.options
        self.state = app.state
        self.extra: dict[str, Any] = {}
        self.epoch = app.epoch

    # -- helpers ----------------------------------------------------------------------------
    def opt(self, name: str) -> Any:
        return self.opts.get(name)

    def _interrupted(self) -> bool:
        return self.state.interrupted or self.state.skipped or self.app.epoch != self.epoch

    def _sample(self, steps: int, seconds_per_step: float) -> int:
        """Sampling with progress; returns the number of steps done (fewer if interrupted)."""
        with self.state.lock:
            self.state.sampling_steps = steps
            self.state.sampling_step = 0
        if self._interrupted():
            return 0
        if seconds_per_step <= 0:
            with self.state.lock:
                self.state.sampling_step = steps
            return steps
        started = time.monotonic()
        while True:
            elapsed = time.monotonic() - started
            done = min(steps, int(elapsed / seconds_per_step))
            with self.state.lock:
                self.state.sampling_step = done
            if done >= steps:
                return steps
            if self._interrupted():
                return done
            time.sleep(min(_STEP_SLICE, max(0.0, (done + 1) * seconds_per_step - elapsed)))

    # -- main -------------------------------------------------------------------------------
    def run(self) -> Result:
        req, kind, sampler = self.req, self.kind, self.sampler
        for name in ("prompt", "negative_prompt"):
            if req[name] is None:
                raise A1111Error("TypeError", "expected string or bytes-like object")
        for name in ("steps", "width", "height", "batch_size", "n_iter", "cfg_scale"):
            if req[name] is None:
                raise A1111Error(
                    "TypeError", f"unsupported operand type(s) for *: 'NoneType' and 'int' ({name})"
                )
        steps, width, height = req["steps"], req["width"], req["height"]
        batch_size, n_iter = req["batch_size"], req["n_iter"]
        if steps == 0:
            raise A1111Error("ZeroDivisionError", "integer division or modulo by zero")

        # setup_prompts / seeds
        count = batch_size * n_iter
        prompt, negative = req["prompt"], req["negative_prompt"]
        if self.opt("enable_prompt_comments"):
            prompt, negative = strip_comments(prompt), strip_comments(negative)
        if count <= 0:
            raise A1111Error("IndexError", "list index out of range")
        if kind == "img2img" and self.init_images is not None:
            if len(self.init_images) == 0:
                raise A1111Error("RuntimeError", "stack expects a non-empty TensorList")
            if len(self.init_images) > batch_size:
                raise A1111Error(
                    "RuntimeError",
                    f"bad number of images passed: {len(self.init_images)}; "
                    f"expecting {batch_size} or less",
                )
            if len(self.init_images) > 1:
                batch_size = len(self.init_images)
                count = batch_size * n_iter
        imaging.check_count(count)
        all_prompts = [prompt] * count
        all_negative = [negative] * count
        subseed_strength = req["subseed_strength"] or 0
        seed, subseed = fixed_seed(req["seed"]), fixed_seed(req["subseed"])
        all_seeds = [seed + (i if subseed_strength == 0 else 0) for i in range(count)]
        all_subseeds = [subseed + i for i in range(count)]

        clip_skip_opt = self.opt("CLIP_stop_at_last_layers")
        if not isinstance(clip_skip_opt, (int, float)):
            raise A1111Error(
                "TypeError",
                f"'>' not supported between instances of '{type(clip_skip_opt).__name__}' "
                "and 'int'",
            )
        clip_skip = int(clip_skip_opt)

        # p.init(): hires fix and refiner checks
        denoising = req["denoising_strength"]
        enable_hr = kind == "txt2img" and bool(req["enable_hr"])
        if kind == "img2img":
            self.extra["Denoising strength"] = denoising
            if self.mask is not None:
                self.extra["Mask blur"] = (
                    req["mask_blur"] if req["mask_blur"] is not None else req["mask_blur_x"]
                )
        hr_size = None
        if enable_hr:
            hr_size = self._init_hires(width, height)
        refiner = req["refiner_checkpoint"]
        if (
            refiner not in (None, "", "None", "none")
            and self.app.closest_checkpoint(refiner) is None
        ):
            raise A1111Error("Exception", f"Could not find checkpoint with name {refiner}")

        # sampling set-up
        w_lat, h_lat = width // 8, height // 8
        if w_lat < 0 or h_lat < 0:
            raise A1111Error(
                "RuntimeError",
                f"Trying to create tensor with negative dimension "
                f"{min(w_lat, h_lat)}: [4, {h_lat}, {w_lat}]",
            )
        for s in (*all_seeds, *all_subseeds):
            if not -(2**63) <= s < 2**64:
                raise A1111Error("RuntimeError", "Overflow when unpacking long")
        if steps < 0:
            raise A1111Error("RuntimeError", "number of steps must be non-negative")
        if w_lat == 0 or h_lat == 0:
            raise A1111Error(
                "RuntimeError",
                f"Calculated padded input size per channel: ({h_lat + 2} x {w_lat + 2}). "
                "Kernel size: (3 x 3). Kernel size can't be greater than actual input size",
            )
        out_w, out_h = w_lat * 8, h_lat * 8
        imaging.check_pixels(out_w, out_h, count)
        if hr_size is not None:
            imaging.check_pixels(hr_size[0], hr_size[1], count)

        if kind == "img2img":
            if denoising is None:
                raise A1111Error(
                    "TypeError", "'<' not supported between instances of 'float' and 'NoneType'"
                )
            steps1 = max(1, int(min(denoising, 0.999) * steps) + 1)
        else:
            steps1 = steps
        steps2 = 0
        if enable_hr:
            second = req["hr_second_pass_steps"] or steps
            d = denoising if isinstance(denoising, (int, float)) else 0
            steps2 = max(1, int(min(d, 0.999) * second) + 1)
        if sampler not in catalog.COMPVIS_SAMPLERS:
            sched = req["scheduler"] or "Automatic"
            if sched == "Automatic":
                sched = catalog.sampler_options(sampler).get("scheduler")
            found = catalog.find_scheduler(sched)
            if found is not None and found[1] != "Automatic":
                self.extra["Schedule type"] = found[1]

        total_steps = max(1, n_iter * (steps1 + steps2))
        per_step = self.app.config.generation_seconds / total_steps

        with self.state.lock:
            if self.state.job_count == -1:
                self.state.job_count = n_iter * (2 if enable_hr else 1)

        ctx = {
            "prompt": prompt,
            "negative": negative,
            "all_prompts": all_prompts,
            "all_negative": all_negative,
            "all_seeds": all_seeds,
            "all_subseeds": all_subseeds,
            "subseed_strength": subseed_strength,
            "clip_skip": clip_skip,
            "batch_size": batch_size,
            "enable_hr": enable_hr,
        }
        images: list[Image.Image] = []
        infotexts: list[str] = []
        time.sleep(self.app.config.prepare_seconds)
        for n in range(n_iter):
            if self.state.skipped:
                with self.state.lock:
                    self.state.skipped = False
            if self.state.interrupted or self.state.stopping_generation:
                break
            if self.app.epoch != self.epoch:  # the stand-in was reset meanwhile
                break
            if n_iter > 1:
                with self.state.lock:
                    self.state.job = f"Batch {n + 1} out of {n_iter}"
            indices = range(n * batch_size, (n + 1) * batch_size)
            self._set_preview(indices[0], out_w, out_h, ctx)
            done = self._sample(steps1, per_step)
            sharpness = done / steps1 if steps1 else 1.0
            size = (out_w, out_h)
            if enable_hr and done == steps1 and not self.state.interrupted:
                self.state.nextjob()
                hr_sampler = req["hr_sampler_name"]
                if hr_sampler and hr_sampler not in catalog.SAMPLER_NAMES:
                    raise A1111Error("AssertionError", f"bad sampler name: {hr_sampler}")
                if denoising is None:
                    raise A1111Error(
                        "TypeError",
                        "'<' not supported between instances of 'float' and 'NoneType'",
                    )
                size = hr_size
                self._set_preview(indices[0], size[0], size[1], ctx)
                done2 = self._sample(steps2, per_step)
                sharpness = done2 / steps2 if steps2 else 1.0
            for i in indices:
                text = self.infotext(i, ctx)
                infotexts.append(text)
                image = self._image(i, size, sharpness, ctx)
                if self.opt("enable_pnginfo"):
                    image.info["parameters"] = text
                images.append(image)
            self.state.nextjob()

        index_of_first_image = 0
        grid_wanted = (self.opt("return_grid") or self.opt("grid_save")) and req["save_images"]
        if grid_wanted and not (len(images) < 2 and self.opt("grid_only_if_multiple")):
            grid = imaging.image_grid(
                images, batch_size, self.opt("n_rows"), self.opt("grid_prevent_empty_spots")
            )
            text = self.infotext(0, ctx)
            if self.opt("enable_pnginfo"):
                grid.info["parameters"] = text
            images.insert(0, grid)
            infotexts.insert(0, text)
            index_of_first_image = 1

        restore_faces = self._restore_faces()
        info = {
            "prompt": all_prompts[0],
            "all_prompts": all_prompts,
            "negative_prompt": all_negative[0],
            "all_negative_prompts": all_negative,
            "seed": all_seeds[0],
            "all_seeds": all_seeds,
            "subseed": all_subseeds[0],
            "all_subseeds": all_subseeds,
            "subseed_strength": req["subseed_strength"],
            "width": width,
            "height": height,
            "sampler_name": sampler,
            "cfg_scale": req["cfg_scale"],
            "steps": steps,
            "batch_size": batch_size,
            "restore_faces": restore_faces,
            "face_restoration_model": self.opt("face_restoration_model") if restore_faces else None,
            "sd_model_name": catalog.model_name_of(self.app.loaded_model),
            "sd_model_hash": None,
            "sd_vae_name": self.app.vae_name(),
            "sd_vae_hash": None,
            "seed_resize_from_w": req["seed_resize_from_w"],
            "seed_resize_from_h": req["seed_resize_from_h"],
            "denoising_strength": denoising,
            "extra_generation_params": self.extra,
            "index_of_first_image": index_of_first_image,
            "infotexts": infotexts,
            "styles": req["styles"] or [],
            "job_timestamp": self.state.job_timestamp,
            "clip_skip": clip_skip,
            "is_using_inpainting_conditioning": False,
            "version": catalog.VERSION,
        }
        return Result(info=info, images=images)

    def _init_hires(self, width: int, height: int) -> tuple[int, int]:
        req = self.req
        self.extra["Denoising strength"] = req["denoising_strength"]
        hr_ckpt = req["hr_checkpoint_name"]
        if hr_ckpt and hr_ckpt != "Use same checkpoint":
            title = self.app.closest_checkpoint(hr_ckpt)
            if title is None:
                raise A1111Error("Exception", f"Could not find checkpoint with name {hr_ckpt}")
            self.extra["Hires checkpoint"] = catalog.model_name_of(title)
        hr_sampler = req["hr_sampler_name"]
        if hr_sampler is not None and hr_sampler != req["sampler_name"]:
            self.extra["Hires sampler"] = hr_sampler
        upscaler = req["hr_upscaler"]
        if (
            upscaler is not None
            and upscaler not in catalog.LATENT_UPSCALE_MODES
            and upscaler not in catalog.UPSCALER_NAMES
        ):
            raise A1111Error("Exception", f"could not find upscaler named {upscaler}")
        rx, ry = req["hr_resize_x"] or 0, req["hr_resize_y"] or 0
        if rx == 0 and ry == 0:
            self.extra["Hires upscale"] = req["hr_scale"]
            scale = req["hr_scale"] if req["hr_scale"] is not None else 2.0
            target = (int(width * scale), int(height * scale))
        else:
            self.extra["Hires resize"] = f"{rx}x{ry}"
            if ry == 0:
                target = (rx, rx * height // max(width, 1))
            elif rx == 0:
                target = (ry * width // max(height, 1), ry)
            else:
                target = (rx, ry)
        if req["hr_second_pass_steps"]:
            self.extra["Hires steps"] = req["hr_second_pass_steps"]
        if upscaler is not None:
            self.extra["Hires upscaler"] = upscaler
        return max(8, target[0] // 8 * 8), max(8, target[1] // 8 * 8)

    def _restore_faces(self) -> bool:
        value = self.req["restore_faces"]
        return bool(self.opt("face_restoration")) if value is None else bool(value)

    def _set_preview(self, index: int, width: int, height: int, ctx: dict) -> None:
        seed = ctx["all_seeds"][index]
        prompt = ctx["all_prompts"][index]

        def preview(fraction: float) -> str:
            image = imaging.make_image(width, height, seed, prompt, sharpness=fraction)
            return imaging.encode_image(imaging.preview_image(image), "png", 80)

        with self.state.lock:
            self.state.preview = preview

    def _image(self, i: int, size: tuple[int, int], sharpness: float, ctx: dict) -> Image.Image:
        init, strength = None, 1.0
        if self.init_images:
            source = self.init_images[
                0 if len(self.init_images) == 1 else i % len(self.init_images)
            ]
            mode = self.req["resize_mode"]
            init = imaging.resize_image(mode if isinstance(mode, int) else 0, source, *size)
            strength = self.req["denoising_strength"]
        return imaging.make_image(
            size[0],
            size[1],
            ctx["all_seeds"][i],
            ctx["all_prompts"][i],
            init=init,
            strength=strength,
            sharpness=sharpness,
        )

    def infotext(self, i: int, ctx: dict) -> str:
        req = self.req
        opt = self.opt
        ss = ctx["subseed_strength"]
        clip_skip = ctx["clip_skip"]
        ensd = opt("eta_noise_seed_delta")
        uses_ensd = ensd != 0 and "uses_ensd" in catalog.sampler_options(self.sampler)
        if self.kind == "img2img":
            tm_ratio = opt("token_merging_ratio_img2img") or opt("token_merging_ratio")
        else:
            tm_ratio = opt("token_merging_ratio")
        tm_hr = opt("token_merging_ratio_hr")
        s_min_uncond = req["s_min_uncond"] if req["s_min_uncond"] is not None else 0
        s_min_uncond = s_min_uncond or opt("s_min_uncond")
        tiling = req["tiling"] if req["tiling"] is not None else opt("tiling")
        restore = self._restore_faces()
        rw, rh = req["seed_resize_from_w"], req["seed_resize_from_h"]
        vae = self.app.vae_name()
        params = {
            "Steps": req["steps"],
            "Sampler": self.sampler,
            "Schedule type": req["scheduler"],
            "CFG scale": req["cfg_scale"],
            "Image CFG scale": None,
            "Seed": ctx["all_seeds"][i],
            "Face restoration": opt("face_restoration_model") if restore else None,
            "Size": f"{req['width']}x{req['height']}",
            "Model hash": None,
            "Model": catalog.model_name_of(self.app.loaded_model)
            if opt("add_model_name_to_info")
            else None,
            "VAE hash": None,
            "VAE": vae if opt("add_vae_name_to_info") else None,
            "Variation seed": None if ss == 0 else ctx["all_subseeds"][i],
            "Variation seed strength": None if ss == 0 else ss,
            "Seed resize from": None
            if (rw is None or rh is None or rw <= 0 or rh <= 0)
            else f"{rw}x{rh}",
            "Denoising strength": self.extra.get("Denoising strength"),
            "Conditional mask weight": None,
            "Clip skip": None if clip_skip <= 1 else clip_skip,
            "ENSD": ensd if uses_ensd else None,
            "Token merging ratio": tm_ratio or None,
            "Token merging ratio hr": None if not ctx["enable_hr"] or not tm_hr else tm_hr,
            "Init image hash": None,
            "RNG": opt("randn_source") if opt("randn_source") != "GPU" else None,
            "NGMS": s_min_uncond or None,
            "Tiling": "True" if tiling else None,
            **self.extra,
            "Version": catalog.VERSION if opt("add_version_to_infotext") else None,
            "User": None,
        }
        return infotext.build(ctx["all_prompts"][i], ctx["all_negative"][i], params)
