"""ControlNet's lists, from its routes, cached in the worker's catalog like A1111's own."""

from __future__ import annotations

from ..catalog import Catalog
from ..errors import JobError

NOT_INSTALLED = (
    "ControlNet is not installed on this worker's A1111 (the extension sd-webui-controlnet "
    "answers at /controlnet/...; see the README's ControlNet section)"
)


def _fetch(catalog: Catalog, route: str):
    try:
        return catalog.client.get(route)
    except JobError as exc:
        if exc.message.startswith("A1111 has no "):  # a 404: no such route
            raise JobError(NOT_INSTALLED) from None
        raise


def models(catalog: Catalog, refresh: bool = False) -> list[str]:
    # The extension rescans its folders at every call of this route (update=true).
    return catalog.cached(
        "controlnet_models",
        lambda: _fetch(catalog, "/controlnet/model_list")["model_list"],
        refresh,
    )


def module_details(catalog: Catalog) -> dict[str, dict]:
    """Internal name -> {model_free, sliders}; preprocessors never change while A1111 runs."""
    return catalog.cached(
        "controlnet_modules", lambda: _fetch(catalog, "/controlnet/module_list")["module_detail"]
    )


def module_labels(catalog: Catalog) -> dict[str, str]:
    """UI label -> internal name: the extension accepts both."""

    def fetch():
        names = _fetch(catalog, "/controlnet/module_list")["module_list"]
        labels = _fetch(catalog, "/controlnet/module_list?alias_names=true")["module_list"]
        return dict(zip(labels, names, strict=True))

    return catalog.cached("controlnet_labels", fetch)


def unit_count(catalog: Catalog) -> int:
    return catalog.cached(
        "controlnet_units",
        lambda: int(_fetch(catalog, "/controlnet/settings")["control_net_unit_count"]),
    )
