"""The region layers of ``shapefiles/regions.gpkg`` loaded once per process with their indexes."""

from __future__ import annotations

import functools
import pathlib
from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import Transformer

from .geodesy import CRS, SEARCH_CRS
from .index import _Grid, _polygon_grid, _PolygonIndex
from .line_index import LEVELS, _border_grid, _LineIndex

DEFAULT_PATH = pathlib.Path(__file__).resolve().parents[2] / "shapefiles" / "regions.gpkg"


@dataclass(frozen=True)
class Regions:
    """Loaded region layers with the indexes :func:`assign` needs.

    Attributes
    ----------
    admin1, sectors, border, segments : geopandas.GeoDataFrame
        The layers as stored (EPSG:4326).
    """

    path: pathlib.Path
    admin1: object
    sectors: object
    border: object
    segments: object
    _admin1_index: _PolygonIndex
    _sector_index: _PolygonIndex
    _levels: tuple  # _LineIndex per entry of LEVELS, coarse to fine (last = full line)
    _to_search: Transformer
    # Every level's segment attributes stacked; level k's rows start at _seg_offset[k].
    _segments: dict
    _seg_offset: np.ndarray
    # Lookup grids (None: every point takes the exact path, as tests compare).
    _admin1_grid: _Grid | None = None
    _sector_grid: _Grid | None = None
    _border_grid: _Grid | None = None

    # Shortcuts used by benchmarks and tests (full-resolution segments).
    @property
    def _seg_lonlat(self):
        return self._levels[-1].seg_lonlat

    @property
    def _seg_miles(self):
        return self._levels[-1].seg_miles


@functools.cache
def _load(path: str) -> Regions:
    import geopandas as gpd

    layers = {name: gpd.read_file(path, layer=name, engine="pyogrio")
              for name in ("admin1", "usbp_sectors", "border", "border_segments")}
    for name, gdf in layers.items():
        if gdf.crs is None or gdf.crs.to_epsg() != 4326:
            raise ValueError(f"{path}: layer {name} is not EPSG:4326")
    to_search = Transformer.from_crs(CRS, SEARCH_CRS, always_xy=True)
    sectors = layers["usbp_sectors"]
    sector_index = _PolygonIndex.from_geometries(sectors.geometry.values)
    border = layers["border"].set_index("code")
    lines = []
    for code in ("L48", "AK"):
        geom = border.loc[code].geometry
        ll = np.vstack([np.asarray(g.coords) for g in shapely.get_parts(geom)])
        # The lower-48 line runs west->east with the US to its right (south); the
        # Alaska line runs south->north from Dixon Entrance with the US on its left.
        lines.append((ll, float(border.loc[code, "mile_from"]), code == "AK"))
    levels = tuple(
        _LineIndex.build(lines, to_search, sectors, sector_index, densify_m=dens,
                         simplify_m=tol)
        for tol, dens, _ in LEVELS)
    admin1_index = _PolygonIndex.from_geometries(layers["admin1"].geometry.values)
    segments = {attr: np.concatenate([getattr(index, attr) for index in levels])
                for attr in ("seg_lonlat", "seg_xy", "seg_mile0", "seg_miles",
                             "seg_us_left", "seg_sector")}
    return Regions(
        path=pathlib.Path(path),
        admin1=layers["admin1"],
        sectors=sectors,
        border=layers["border"],
        segments=layers["border_segments"],
        _admin1_index=admin1_index,
        _sector_index=sector_index,
        _levels=levels,
        _to_search=to_search,
        _segments=segments,
        _seg_offset=np.cumsum([0] + [len(index.seg_xy) for index in levels[:-1]]),
        _admin1_grid=_polygon_grid(admin1_index),
        _sector_grid=_polygon_grid(sector_index),
        _border_grid=_border_grid(levels),
    )


def load(path=None) -> Regions:
    """Load the region layers once per process (cached per resolved path).

    Parameters
    ----------
    path : str or pathlib.Path, optional
        GeoPackage to read; defaults to ``shapefiles/regions.gpkg`` in the project.
    """
    return _load(str(pathlib.Path(path or DEFAULT_PATH).resolve()))


def region_names(regions: Regions | None = None) -> dict[str, str]:
    """Map every admin1 and sector code to its display name."""
    regions = regions or load()
    names = dict(zip(regions.admin1["code"], regions.admin1["name"]))
    names.update(zip(regions.sectors["code"], regions.sectors["name"]))
    return names
