"""Place names for maps drawn without tiles (``GEOMAP_TILES=none``): which towns, ports and
cities of the gazetteer a map names, from which zoom level, in which order.

The gazetteer (``places.csv`` beside the regions file, made by ``build-places``) holds some
14,000 places; a map carries a ranked subset around its data (`place_rows`, at most
`MAX_PLACES`), and the layer library shows, at each zoom, the names whose zoom has come, most
important first, dropping any that would overlap one already shown (the rule `placement`
applies to the static image).

Rank, most important first: state and province names (zoom 3 to 7, then the towns take
over), cities by population, then, from zoom 7, the ports of entry before the towns of their
tier, then border towns by population. A
place's first zoom comes from `TIERS`: a large city far from the line is named on a
continental view, a hamlet near it only when the view is a few dozen km across.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from ..regions.names import admin1_name

#: Kinds of names, as the layer library styles them.
REGION, TOWN, PORT = 0, 1, 2
#: (least population, farthest from the border in km, first zoom): the first tier a place
#: meets gives its zoom. Leaflet zoom 5 shows about 2,500 km across a 375 px phone, zoom 9
#: about 150 km.
TIERS = ((250_000, 300.0, 5), (50_000, 200.0, 6), (10_000, 100.0, 7), (2_000, 60.0, 8),
         (500, 40.0, 9))
#: Ports of entry within this many km of the line are named from `PORT_ZOOM`.
PORT_KM, PORT_ZOOM = 60.0, 7
#: Towns known only by their ZIP codes (no population) are named near the line, close up.
ZIP_KM, ZIP_ZOOM = 15.0, 10
#: State and province names show from `REGION_ZOOM` up to (not including) `REGIONS_UNTIL`.
REGION_ZOOM, REGIONS_UNTIL = 3, 8
#: Most places one map carries (about 35 bytes each): the ranked subset's tail is dropped.
MAX_PLACES = 400
PLACES_FILE = "places.csv"


def places_beside(regions_path: str | os.PathLike) -> str | None:
    """Return the gazetteer beside a regions file (``places.csv`` in its folder), or None."""
    path = os.path.join(os.path.dirname(os.fspath(regions_path)), PLACES_FILE)
    return path if os.path.exists(path) else None


def rank_places(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the places a map may name, each with its first zoom, most important first.

    Parameters
    ----------
    frame : DataFrame
        Gazetteer rows: ``name``, ``lat``, ``lon``, ``border_km``, ``source``, and
        ``population`` (missing or NaN when unknown) and ``port`` (0/1) when the file has
        them.

    Returns
    -------
    DataFrame
        ``lat``, ``lon``, ``name``, ``zoom`` (first zoom the name shows at) and ``kind``
        (`TOWN` or `PORT`), sorted by zoom, then (from `PORT_ZOOM`) ports first, then
        population (largest first), then name. Places no tier admits are left out, and so are the gazetteer's
        other names for a ZIP code's area and ports placed at their post office (their point
        is another town's).
    """
    source = frame["source"].astype(str)
    own_point = ~(source.str.startswith("zipcodes (area") | source.str.startswith("post office"))
    population = pd.to_numeric(frame.get("population"), errors="coerce") \
        if "population" in frame else pd.Series(np.nan, index=frame.index)
    port = (frame["port"].fillna(0).astype(int) == 1) if "port" in frame \
        else pd.Series(False, index=frame.index)
    km = frame["border_km"].astype(float)
    zoom = pd.Series(np.inf, index=frame.index)
    for least, farthest, first in reversed(TIERS):  # the lowest zoom a place meets wins
        zoom[(population >= least) & (km <= farthest)] = first
    zoom[population.isna() & (km <= ZIP_KM)] = ZIP_ZOOM
    zoom[port & (km <= PORT_KM)] = np.minimum(zoom[port & (km <= PORT_KM)], PORT_ZOOM)
    keep = own_point & np.isfinite(zoom)
    out = pd.DataFrame({"lat": frame["lat"].astype(float), "lon": frame["lon"].astype(float),
                        "name": frame["name"].astype(str), "zoom": zoom,
                        "kind": np.where(port, PORT, TOWN),
                        # Ports go first among the names that appear with them (a city's
                        # name still beats a port's in the city's own tier: Vancouver first).
                        "port_first": port & (zoom >= PORT_ZOOM),
                        "population": population.fillna(0)})[keep]
    out = out.sort_values(["zoom", "port_first", "population", "name"],
                          ascending=[True, False, False, True], kind="stable")
    return (out.drop(columns=["population", "port_first"]).astype({"zoom": int})
            .reset_index(drop=True))


def read_places(path: str | os.PathLike | None) -> pd.DataFrame | None:
    """Return `rank_places` of a gazetteer file, or None without one."""
    if not path or not os.path.exists(path):
        return None
    return rank_places(pd.read_csv(path, dtype={"name": str, "source": str},
                                   keep_default_na=False, na_values={"population": [""]}))


def place_rows(ranked: pd.DataFrame | None, box: Any, limit: int = MAX_PLACES) -> list[list]:
    """Return the names a map around `box` carries: ``[lat, lon, name, zoom, kind]`` rows in
    rank order, at most `limit` (the least important are dropped).

    Parameters
    ----------
    ranked : DataFrame or None
        From `rank_places` / `read_places`.
    box : sequence or None
        ``[[lat_min, lon_min], [lat_max, lon_max]]``, or None for everywhere.
    limit : int
    """
    if ranked is None or ranked.empty:
        return []
    frame = ranked
    if box is not None:
        (lat_min, lon_min), (lat_max, lon_max) = box
        frame = frame[frame["lat"].between(lat_min, lat_max)
                      & frame["lon"].between(lon_min, lon_max)]
    frame = frame.head(limit)
    return [[round(float(lat), 3), round(float(lon), 3), name, int(zoom), int(kind)]
            for lat, lon, name, zoom, kind in frame[["lat", "lon", "name", "zoom", "kind"]]
            .itertuples(index=False)]


def region_rows(gdf, box: Any = None, lang: str = "en") -> list[list]:
    """Return state and province names as ``[lat, lon, name, zoom, REGION]`` rows, at a point
    inside each shape (around `box` when given), largest shape first, named in ``lang``
    (`regions.names.admin1_name`: Québec, Colombie-Britannique in French)."""
    import shapely

    frame = gdf
    if box is not None and len(frame):
        (lat_min, lon_min), (lat_max, lon_max) = box
        frame = frame.loc[frame.intersects(shapely.box(lon_min, lat_min, lon_max, lat_max))]
    if frame.empty:
        return []
    names = frame["name"] if "name" in frame else frame.get("code", pd.Series("", frame.index))
    if "code" in frame:
        names = pd.Series([admin1_name(str(code), lang, default=str(name))
                           for code, name in zip(frame["code"], names)], index=frame.index)
    order = np.argsort(-shapely.area(np.asarray(frame.geometry.values)), kind="stable")
    points = frame.geometry.representative_point()
    return [[round(points.iloc[i].y, 3), round(points.iloc[i].x, 3), str(names.iloc[i]),
             REGION_ZOOM, REGION] for i in order]
