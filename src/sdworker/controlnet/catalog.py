"""ControlNet's lists, from its routes, cached in the worker's catalog like A1111's own."""

from __future__ import annotations

from ..catalog import Catalog
from ..errors import JobError

NOT_INSTALLED = (
    "ControlNet is not installed on this worker's A1111 (the extension sd-webui-controlnet "
    "answers at /controlnet/...; see the README's ControlNet section)"
)


def fetch(catalog: Catalog, route: str):
    """GET one of the extension's routes; a clear error when it is not installed."""
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
        lambda: fetch(catalog, "/controlnet/model_list")["model_list"],
        refresh,
    )


def module_details(catalog: Catalog) -> dict[str, dict]:
    """Internal name -> {model_free, sliders}; preprocessors never change while A1111 runs."""
    return catalog.cached(
        "controlnet_modules", lambda: fetch(catalog, "/controlnet/module_list")["module_detail"]
    )


def module_labels(catalog: Catalog) -> dict[str, str]:
    """UI label -> internal name: the extension accepts both."""

    def both_lists():
        names = fetch(catalog, "/controlnet/module_list")["module_list"]
        labels = fetch(catalog, "/controlnet/module_list?alias_names=true")["module_list"]
        return dict(zip(labels, names, strict=True))

    return catalog.cached("controlnet_labels", both_lists)


def unit_count(catalog: Catalog) -> int:
    return catalog.cached(
        "controlnet_units",
        lambda: int(fetch(catalog, "/controlnet/settings")["control_net_unit_count"]),
    )
