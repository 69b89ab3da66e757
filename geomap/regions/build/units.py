"""The units built from the sources: the two countries, states/provinces, Border Patrol
sectors and the border lines with their segments."""

from __future__ import annotations

import numpy as np
import shapely

from ..geodesy import geodesic_miles
from .shapes import _polygonal, nearest_zones

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
