"""The region layers as an app collaborator, for any door that joins, draws or counts by them
(imports, map views, the stats API, the CLI): not a blueprint, so blueprints need not import
each other.

`init_app(app, regions=None, display=None)` registers a `RegionLayers` in
`app.extensions[EXTENSION]`. Each kind of layer is loaded lazily from the configured
`REGIONS_PATH` unless an object was injected: `create_app` passes the `REGIONS` (join layers)
and `DISPLAY_LAYERS` (display layers) entries of its `config` here, which is how tests hand the
app fakes. Doors read them with `join_layers()` / `region_layers()` (or
`app.extensions[EXTENSION]` outside a request) and pass them to the domain as parameters.
"""

from __future__ import annotations

from typing import Any, Mapping

from flask import Flask, current_app

from .. import maps, regions

EXTENSION = "geomap.region_layers"


class RegionLayers:
    """The join layers (`regions.load`) and display layers (`maps.display_layers`) of one app.

    Both loaders cache per file, so asking again is cheap; an injected object is returned as is.
    The file is the config's REGIONS_PATH when asked (read each time, as the views always did).
    """

    def __init__(self, config: Mapping[str, Any], *, regions_obj: Any = None,
                 display: Any = None):
        self.config = config
        self._regions = regions_obj
        self._display = display

    @property
    def path(self) -> str | None:
        return self.config.get("REGIONS_PATH")

    def join(self) -> Any:
        """Return the layers imports join incidents to (`regions.load(REGIONS_PATH)`)."""
        if self._regions is not None:
            return self._regions
        return regions.load(self.path)

    def display(self) -> dict:
        """Return the display layers of the regions file (empty when it is missing)."""
        if self._display is not None:
            return self._display
        return maps.display_layers(self.path)


    def border_miles(self) -> dict[str, float]:
        """Return miles of border per region of the join layers (`regions.border_miles`).

        A stand-in join (tests) may carry its own lengths as a ``border_miles()`` method.
        """
        join = self.join()
        own = getattr(join, "border_miles", None)
        return own() if callable(own) else regions.border_miles(join)


def init_app(app: Flask, *, regions_obj: Any = None, display: Any = None) -> None:
    """Register the app's region layers (injected objects win over the configured file)."""
    app.extensions[EXTENSION] = RegionLayers(app.config, regions_obj=regions_obj, display=display)


def layers_of(app: Flask) -> RegionLayers:
    return app.extensions[EXTENSION]


def join_layers() -> Any:
    """Return the current app's join layers (for `ingest.import_file(regions=...)`)."""
    return layers_of(current_app).join()


def border_miles() -> dict[str, float]:
    """Return the current app's miles of border per region (per-border-mile choropleths)."""
    return layers_of(current_app).border_miles()


def region_layers() -> dict:
    """Return the current app's display layers (empty when the regions file is missing)."""
    return layers_of(current_app).display()
