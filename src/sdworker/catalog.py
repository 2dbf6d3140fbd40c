"""What A1111 has installed (samplers, schedulers, LoRAs, models...), fetched once and cached.

These lists back the checks A1111 itself skips: an unknown LoRA or scheduler is silently
ignored by A1111, so the worker refuses it before sending anything.
"""

from __future__ import annotations

import contextlib
import difflib
import threading
from collections.abc import Callable, Iterable

from .a1111_client import A1111Client
from .errors import JobError


def _listing(names: Iterable[str], limit: int = 40) -> str:
    names = sorted(set(names), key=str.lower)
    shown = ", ".join(f"'{n}'" for n in names[:limit])
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return (shown + more) if names else "none installed"


def unknown_name(
    field: str, value: str, valid: Iterable[str], what: str, hint: str = ""
) -> JobError:
    valid = list(valid)
    close = difflib.get_close_matches(value, valid, n=1, cutoff=0.6)
    suggestion = f" Did you mean '{close[0]}'?" if close else ""
    return JobError(
        f"{field}: unknown {what} '{value}'.{suggestion}{hint} Available: {_listing(valid)}."
    )


class Catalog:
    """Lazily fetched lists; samplers and schedulers never change, the rest refresh on a miss."""

    def __init__(self, client: A1111Client):
        self._client = client
        self._cache: dict[str, object] = {}
        self._lock = threading.Lock()

    def _get(self, key: str, fetch: Callable[[], object], refresh: bool = False):
        with self._lock:
            if refresh or key not in self._cache:
                self._cache[key] = fetch()
            return self._cache[key]

    @property
    def client(self) -> A1111Client:
        return self._client

    def cached(self, key: str, fetch: Callable[[], object], refresh: bool = False):
        """A list of an extension's, kept like the others (fetched once, refreshed on demand)."""
        return self._get(key, fetch, refresh)

    def forget(self, key: str) -> None:
        with self._lock:
            self._cache.pop(key, None)

    def samplers(self) -> list[str]:
        return self._get(
            "samplers", lambda: [s["name"] for s in self._client.get("/sdapi/v1/samplers")]
        )

    def schedulers(self) -> list[str]:
        """Names and labels: A1111 accepts both ('karras' and 'Karras')."""

        def fetch():
            items = self._client.get("/sdapi/v1/schedulers")
            return [n for s in items for n in (s.get("name"), s.get("label")) if n]

        return self._get("schedulers", fetch)

    def loras(self, refresh: bool = False) -> list[str]:
        def fetch():
            if refresh:
                self._client.post("/sdapi/v1/refresh-loras")
            items = self._client.get("/sdapi/v1/loras")
            return [n for item in items for n in (item.get("name"), item.get("alias")) if n]

        return self._get("loras", fetch, refresh)

    def models(self, refresh: bool = False) -> list[dict]:
        def fetch():
            if refresh:
                self._client.post("/sdapi/v1/refresh-checkpoints")
            return self._client.get("/sdapi/v1/sd-models")

        return self._get("models", fetch, refresh)

    def vaes(self, refresh: bool = False) -> list[str]:
        def fetch():
            if refresh:
                self._client.post("/sdapi/v1/refresh-vae")
            return [v["model_name"] for v in self._client.get("/sdapi/v1/sd-vae")]

        return self._get("vaes", fetch, refresh)

    def upscaler_entries(self) -> list[dict]:
        return self._get("upscalers", lambda: self._client.get("/sdapi/v1/upscalers"))

    def upscalers(self) -> list[str]:
        return [u["name"] for u in self.upscaler_entries()]

    def face_restorers(self) -> list[str]:
        return self._get(
            "face_restorers",
            lambda: [f["name"] for f in self._client.get("/sdapi/v1/face-restorers")],
        )

    def styles(self, refresh: bool = False) -> list[str]:
        # styles.csv is read again by A1111 at every request to this route.
        return self._get(
            "styles",
            lambda: [s["name"] for s in self._client.get("/sdapi/v1/prompt-styles")],
            refresh,
        )

    def cmd_flags(self) -> dict:
        """A1111's command line, with the folders it reads its weights from."""
        return self._get("cmd_flags", lambda: self._client.get("/sdapi/v1/cmd-flags"))

    def latent_upscale_modes(self) -> list[str]:
        return self._get(
            "latent",
            lambda: [m["name"] for m in self._client.get("/sdapi/v1/latent-upscale-modes")],
        )

    def options(self) -> dict:
        """A1111's options as first read: for names, and values no job can change."""
        return self._get("options", lambda: self._client.get("/sdapi/v1/options"))

    def option_names(self) -> list[str]:
        return list(self.options())

    def warm(self) -> None:
        """Fetch the lists the checks use, so that the first job does not wait for them."""
        for fetch in (self.samplers, self.schedulers, self.loras, self.options, self.cmd_flags):
            # A failure caches nothing: the first job that needs the list fetches and reports.
            with contextlib.suppress(JobError):
                fetch()

    # --- lookups that refresh once on a miss -------------------------------------------------

    def has_lora(self, name: str) -> bool:
        return name in self.loras() or name in self.loras(refresh=True)

    def model_names(self, refresh: bool = False) -> list[str]:
        names = []
        for m in self.models(refresh):
            names += [m.get("title"), m.get("model_name")]
            if m.get("filename"):
                names.append(m["filename"].replace("\\", "/").rsplit("/", 1)[-1])
        return [n for n in names if n]

    def has_model(self, name: str) -> bool:
        return name in self.model_names() or name in self.model_names(refresh=True)

    def has_style(self, name: str) -> bool:
        return name in self.styles() or name in self.styles(refresh=True)

    def has_vae(self, name: str) -> bool:
        if name in ("Automatic", "None"):
            return True
        return name in self.vaes() or name in self.vaes(refresh=True)
