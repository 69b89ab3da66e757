"""Fast, vectorised join of points to states/provinces, Border Patrol sectors and the border.

The layers live in ``shapefiles/regions.gpkg`` (built by :mod:`geomap.regions_build`, see
``shapefiles/README.md``).  All coordinates are WGS84 longitude/latitude (EPSG:4326);
distances are geodesic on the WGS84 ellipsoid.  This module does not import Flask.

Border miles: 0 at the Pacific end of the lower-48 boundary (Strait of Juan de Fuca),
increasing eastward to the Atlantic (Grand Manan Channel); the Alaska–Canada boundary
continues the count from the lower-48 total, starting at Dixon Entrance (Pacific) and
ending in the Beaufort Sea.

Speed: :func:`load` also builds lookup grids (a few MB, under a second) from the layers.
The admin1 and sector grids answer every cell no polygon boundary comes near, so only
points near a boundary get the exact ``contains_xy`` test; the border grid says which
search level a point's nearest-vertex query can start on. Both only skip work whose
outcome is already decided, so :func:`assign` returns exactly what it returns without
them (``dataclasses.replace(regions, _admin1_grid=None, _sector_grid=None,
_border_grid=None)``, which the tests compare on edge cases).
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from pyproj import Geod, Transformer

CRS = "EPSG:4326"
#: Conformal projection covering the whole border (NAD83 / Canada Atlas Lambert); used
#: only to find the nearest border segment, the distance itself is geodesic.
SEARCH_CRS = "EPSG:3978"
DEFAULT_PATH = pathlib.Path(__file__).resolve().parent.parent / "shapefiles" / "regions.gpkg"
#: Default area of interest: points within this geodesic distance of the border.
DEFAULT_AOI_KM = 500.0
METRES_PER_MILE = 1609.344
GEOD = Geod(ellps="WGS84")

#: ISO 3166-2 style codes and English names of the 64 admin1 units.
ADMIN1_NAMES = {
    "US-AL": "Alabama", "US-AK": "Alaska", "US-AZ": "Arizona", "US-AR": "Arkansas",
    "US-CA": "California", "US-CO": "Colorado", "US-CT": "Connecticut", "US-DE": "Delaware",
    "US-DC": "District of Columbia", "US-FL": "Florida", "US-GA": "Georgia", "US-HI": "Hawaii",
    "US-ID": "Idaho", "US-IL": "Illinois", "US-IN": "Indiana", "US-IA": "Iowa",
    "US-KS": "Kansas", "US-KY": "Kentucky", "US-LA": "Louisiana", "US-ME": "Maine",
    "US-MD": "Maryland", "US-MA": "Massachusetts", "US-MI": "Michigan", "US-MN": "Minnesota",
    "US-MS": "Mississippi", "US-MO": "Missouri", "US-MT": "Montana", "US-NE": "Nebraska",
    "US-NV": "Nevada", "US-NH": "New Hampshire", "US-NJ": "New Jersey", "US-NM": "New Mexico",
    "US-NY": "New York", "US-NC": "North Carolina", "US-ND": "North Dakota", "US-OH": "Ohio",
    "US-OK": "Oklahoma", "US-OR": "Oregon", "US-PA": "Pennsylvania", "US-RI": "Rhode Island",
    "US-SC": "South Carolina", "US-SD": "South Dakota", "US-TN": "Tennessee", "US-TX": "Texas",
    "US-UT": "Utah", "US-VT": "Vermont", "US-VA": "Virginia", "US-WA": "Washington",
    "US-WV": "West Virginia", "US-WI": "Wisconsin", "US-WY": "Wyoming",
    "CA-AB": "Alberta", "CA-BC": "British Columbia", "CA-MB": "Manitoba",
    "CA-NB": "New Brunswick", "CA-NL": "Newfoundland and Labrador", "CA-NS": "Nova Scotia",
    "CA-NT": "Northwest Territories", "CA-NU": "Nunavut", "CA-ON": "Ontario",
    "CA-PE": "Prince Edward Island", "CA-QC": "Quebec", "CA-SK": "Saskatchewan",
    "CA-YT": "Yukon",
}
#: Other spellings people put in a State/Province column (keys are normalised).
_ALIASES = {
    "quebec": "CA-QC", "province de quebec": "CA-QC", "pq": "CA-QC", "que": "CA-QC",
    "newfoundland": "CA-NL", "labrador": "CA-NL", "nf": "CA-NL", "nfld": "CA-NL",
    "yukon territory": "CA-YT", "yk": "CA-YT", "colombie britannique": "CA-BC",
    "nouveau brunswick": "CA-NB", "nouvelle ecosse": "CA-NS", "nwt": "CA-NT",
    "ile du prince edouard": "CA-PE", "pei": "CA-PE", "terre neuve et labrador": "CA-NL",
    "territoires du nord ouest": "CA-NT", "washington state": "US-WA", "d c": "US-DC",
    "dc": "US-DC", "washington d c": "US-DC", "washington dc": "US-DC",
}


def geodesic_miles(lonlat) -> np.ndarray:
    """Cumulative geodesic (WGS84) length in miles at each vertex of a lon/lat line (n, 2)."""
    c = np.asarray(lonlat)
    _, _, d = GEOD.inv(c[:-1, 0], c[:-1, 1], c[1:, 0], c[1:, 1])
    return np.concatenate([[0.0], np.cumsum(d)]) / METRES_PER_MILE


def _norm(text: str) -> str:
    """Lower-case, strip accents and punctuation so 'Québec.' matches 'quebec'."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = "".join(ch if ch.isalnum() else " " for ch in text)
    return " ".join(text.split())


def _build_lookup() -> dict[str, str]:
    table = {}
    for code, name in ADMIN1_NAMES.items():
        table[_norm(name)] = code
        table[_norm(code)] = code  # "us wa"
        table[_norm(code[3:])] = code  # postal code "wa"
        table[_norm(code.replace("-", ""))] = code  # "uswa"
    table.update(_ALIASES)
    return table


_LOOKUP = _build_lookup()


def normalise_region(text) -> str | None:
    """Return the admin1 code (``US-WA``) for a declared state/province, or None.

    Accepts full names ('Washington', 'British Columbia', 'Québec'), postal codes
    ('WA', 'BC') and ``US-WA``-style codes, case- and accent-insensitively.
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return None
    key = _norm(str(text))
    return _LOOKUP.get(key) if key else None


@dataclass(frozen=True)
class _PolygonIndex:
    """Prepared polygon parts with bounding boxes, for bbox-mask + ``contains_xy``."""

    labels: np.ndarray  # label index per group
    geoms: np.ndarray  # prepared (multi)polygons, one per group
    bounds: np.ndarray  # (n, 4) xmin, ymin, xmax, ymax

    @classmethod
    def from_geometries(cls, geoms) -> _PolygonIndex:
        """Group each geometry's parts by hemisphere so bboxes stay tight.

        Alaska's Aleutians cross the antimeridian; without the split its bbox would
        span the globe and every point would be tested against it.
        """
        labels, parts = [], []
        for i, geom in enumerate(geoms):
            pieces = shapely.get_parts(geom)
            cx = shapely.get_x(shapely.centroid(pieces))
            for sel in (cx < 0, cx >= 0):
                if sel.any():
                    labels.append(i)
                    parts.append(shapely.multipolygons(pieces[sel]))
        parts = np.array(parts, dtype=object)
        shapely.prepare(parts)
        return cls(np.array(labels), parts, shapely.bounds(parts))

    def lookup(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Return the index of the containing geometry per point (-1 where none).

        Polygons of one layer do not overlap, so the first hit is the only one.
        """
        out = np.full(len(x), -1, dtype=np.int64)
        for label, geom, (x0, y0, x1, y1) in zip(self.labels, self.geoms, self.bounds):
            cand = np.flatnonzero((out < 0) & (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
            if len(cand):
                hit = shapely.contains_xy(geom, x[cand], y[cand])
                out[cand[hit]] = label
        return out


#: Grid codes (int8). Polygon grids: the index of the polygon whose interior holds the whole
#: cell, -1 for none, `_EXACT` where a boundary passes within `_GRID_EPS` of the cell (those
#: points get the exact test). Border grid: the first search level a point must be measured
#: on. `_REFINED` marks a coarse cell split into a block of fine cells.
_EXACT = -2
_REFINED = -3
#: Admin1 and sector grids: lon/lat extent (covers the area of interest around the whole
#: border; points elsewhere get the exact test), coarse cell and fine cells per coarse side.
POLYGON_GRID = ((-180.0, 36.0, -50.0, 76.0), 0.25, 16)
#: Boundaries are marked in every cell they come within this many degrees of, so a point
#: that rounding places a hair outside its nominal cell is still covered (~0.1 mm).
_GRID_EPS = 1e-9
#: Border grid: coarse cell (m, EPSG:3978) and fine cells per coarse side (2 km; 1 km cells
#: save ~2 % of the KD-tree queries for four times the build time).
BORDER_GRID = (16_000.0, 8)
#: Slack (m) on the border grid's distance bounds, far above the KD-tree's rounding.
_GRID_MARGIN_M = 1.0


@dataclass(frozen=True)
class _Grid:
    """Two-tier grid of int8 codes: coarse cells, some split into blocks of fine cells.

    Fine cell ``(i, j)`` spans ``x0 + i * fine`` to ``x0 + (i + 1) * fine`` (likewise y)
    and lies in coarse cell ``(i // ratio, j // ratio)``; a coarse cell coded `_REFINED`
    reads the code of the fine cell from its block. Fine blocks only where codes change
    keep the grid a few MB.
    """

    x0: float
    y0: float
    fine: float
    ratio: int
    coarse: np.ndarray  # (ny, nx) int8 code, or _REFINED
    block_of: np.ndarray  # (ny, nx) int32 block of a refined coarse cell, -1 elsewhere
    blocks: np.ndarray  # (n_blocks, ratio, ratio) int8 codes of fine cells
    outside: int  # code of points off the grid

    @classmethod
    def empty(cls, x0, y0, x1, y1, cell: float, ratio: int, outside: int) -> _Grid:
        """Grid covering the rectangle with every coarse cell coded 0 and no blocks."""
        nx, ny = int(np.ceil((x1 - x0) / cell)), int(np.ceil((y1 - y0) / cell))
        return cls(float(x0), float(y0), cell / ratio, ratio, np.zeros((ny, nx), np.int8),
                   np.full((ny, nx), -1, np.int32), np.zeros((0, ratio, ratio), np.int8),
                   outside)

    def coarse_centres(self, flat: np.ndarray):
        """Centre coordinates of coarse cells given by flat index."""
        ny, nx = self.coarse.shape
        cell = self.fine * self.ratio
        return (self.x0 + (flat % nx + 0.5) * cell, self.y0 + (flat // nx + 0.5) * cell)

    def fine_centres(self, block: np.ndarray, j: np.ndarray, i: np.ndarray):
        """Centre coordinates of fine cells given by block, row and column in the block."""
        cell = np.flatnonzero(self.block_of.ravel() >= 0)
        order = self.block_of.ravel()[cell]
        flat = np.empty(len(cell), np.int64)
        flat[order] = cell
        nx = self.coarse.shape[1]
        fx = flat[block] % nx * self.ratio + i
        fy = flat[block] // nx * self.ratio + j
        return self.x0 + (fx + 0.5) * self.fine, self.y0 + (fy + 0.5) * self.fine

    def codes(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Return the int8 code of the fine cell holding each point (`outside` off the grid)."""
        ny, nx = self.coarse.shape
        r = self.ratio
        fx = np.floor((x - self.x0) / self.fine)
        fy = np.floor((y - self.y0) / self.fine)
        # NaN compares False, so non-finite points are off the grid too.
        inside = (fx >= 0) & (fx < nx * r) & (fy >= 0) & (fy < ny * r)
        if inside.all():  # the usual case: no subsetting
            out, ii = None, slice(None)
        else:
            out, ii = np.full(len(x), self.outside, dtype=np.int8), np.flatnonzero(inside)
        ix, iy = fx[ii].astype(np.int64), fy[ii].astype(np.int64)
        cell = iy // r * nx + ix // r
        code = self.coarse.ravel()[cell]
        ref = np.flatnonzero(code == _REFINED)
        if len(ref):
            block = self.block_of.ravel()[cell[ref]]
            code[ref] = self.blocks.ravel()[(block * r + iy[ref] % r) * r + ix[ref] % r]
        if out is None:
            return code
        out[ii] = code
        return out


def _polygon_grid(index: _PolygonIndex, extent=POLYGON_GRID[0], cell=POLYGON_GRID[1],
                  ratio=POLYGON_GRID[2]) -> _Grid | None:
    """Grid answering ``index.lookup`` for every cell no polygon boundary comes near.

    Fine cells within `_GRID_EPS` of a boundary segment are coded `_EXACT`. Every other
    cell lies wholly inside or outside each polygon, and so do all cells of a 4-connected
    group of such cells; the group's code is ``index.lookup`` of one cell centre, so a
    grid answer is by construction the one the exact test would give.
    """
    from scipy import ndimage

    if len(index.labels) and index.labels.max() > np.iinfo(np.int8).max:
        return None  # codes are int8: a layer this large takes the exact path
    grid = _Grid.empty(*extent, cell, ratio, _EXACT)
    ny, nx = grid.coarse.shape
    fine = grid.fine
    # Boundaries cut into pieces shorter than half a fine cell, so the bounding box of a
    # piece (plus eps) spans at most two cells per axis: its four corners mark them all.
    rings = shapely.segmentize(shapely.get_rings(shapely.get_parts(index.geoms)), fine / 2)
    xy, ring = shapely.get_coordinates(rings, return_index=True)
    origin = np.array([grid.x0, grid.y0])
    marked = []
    # In slices of coordinates (overlapping by one), so the temporaries stay a few MB.
    step = 1 << 16
    for start in range(0, max(len(xy) - 1, 0), step):
        part, part_ring = xy[start:start + step + 1], ring[start:start + step + 1]
        same = part_ring[1:] == part_ring[:-1]
        a, b = part[:-1][same], part[1:][same]
        lo = np.floor((np.minimum(a, b) - _GRID_EPS - origin) / fine).astype(np.int64)
        hi = np.floor((np.maximum(a, b) + _GRID_EPS - origin) / fine).astype(np.int64)
        for fx, fy in ((lo[:, 0], lo[:, 1]), (lo[:, 0], hi[:, 1]), (hi[:, 0], lo[:, 1]),
                       (hi[:, 0], hi[:, 1])):
            on = (fx >= 0) & (fx < nx * ratio) & (fy >= 0) & (fy < ny * ratio)
            marked.append(np.unique(fy[on] * (nx * ratio) + fx[on]))
    fy, fx = np.divmod(np.unique(np.concatenate(marked + [np.empty(0, np.int64)])),
                       nx * ratio)
    coarse_cell = fy // ratio * nx + fx // ratio
    refined = np.unique(coarse_cell)
    grid.block_of.ravel()[refined] = np.arange(len(refined), dtype=np.int32)
    edge = np.zeros((len(refined), ratio, ratio), dtype=bool)
    edge[grid.block_of.ravel()[coarse_cell], fy % ratio, fx % ratio] = True

    # Coarse cells without a boundary: one lookup per connected group.
    groups, n_groups = ndimage.label(grid.block_of < 0)
    flat = np.flatnonzero(groups.ravel())
    rep = np.zeros(n_groups + 1, np.int64)
    rep[groups.ravel()[flat]] = flat
    code = index.lookup(*grid.coarse_centres(rep[1:]))
    grid.coarse.ravel()[flat] = code[groups.ravel()[flat] - 1]
    grid.coarse.ravel()[refined] = _REFINED

    # Fine cells without a boundary: groups within each block (not across blocks).
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = ndimage.generate_binary_structure(2, 1)
    groups, n_groups = ndimage.label(~edge, structure)
    flat = np.flatnonzero(groups.ravel())
    rep = np.zeros(n_groups + 1, np.int64)
    rep[groups.ravel()[flat]] = flat
    block, rest = np.divmod(rep[1:], ratio * ratio)
    code = index.lookup(*grid.fine_centres(block, *np.divmod(rest, ratio)))
    blocks = np.full(edge.shape, _EXACT, dtype=np.int8)
    blocks.ravel()[flat] = code[groups.ravel()[flat] - 1]
    return dataclasses.replace(grid, blocks=blocks)


def _lookup(index: _PolygonIndex, grid: _Grid | None, x: np.ndarray,
            y: np.ndarray) -> np.ndarray:
    """``index.lookup`` through the grid: the exact test only for points near a boundary."""
    if grid is None:
        return index.lookup(x, y)
    out = grid.codes(x, y).astype(np.int64)
    near = np.flatnonzero(out == _EXACT)
    if len(near):
        out[near] = index.lookup(x[near], y[near])
    return out


#: Nearest densified vertices whose adjacent segments are tested per point.
K_VERTICES = 4
#: Search levels (Douglas-Peucker tolerance m, densify spacing m, refine-below m): every
#: point is measured on the first level; points closer than "refine-below" to a level's
#: line are measured again on the next, finer one.  KD-tree queries stay cheap when the
#: vertex spacing is comparable to the distance searched.  The distance error is at
#: most the tolerance of the last level used: exact within ~2 km, <= 25 m within 20 km,
#: <= 500 m within 150 km, <= 5 km beyond.
LEVELS = ((5000.0, 20000.0, 150_000.0), (500.0, 2500.0, 20_000.0),
          (25.0, 500.0, 2_000.0), (0.0, 250.0, None))
#: Points measured on the middle levels (~2-165 km from the border) whose distance is below
#: this get the local ellipsoidal approximation instead of the geodesic inverse: error
#: <= 0.1 m within 20 km and <= 40 m at 150 km, far inside those levels' own bounds.
APPROX_MAX_M = 150_000.0
#: Around each threshold passed as ``exact_near`` the distance is always geodesic.
EXACT_MARGIN_M = 1_000.0
_A, _F = 6378137.0, 1 / 298.257223563  # WGS84
_E2 = _F * (2 - _F)


@dataclass(frozen=True)
class _LineIndex:
    """Border segments with miles, sides and sectors, searchable by a vertex KD-tree.

    Segments are densified so the nearest segment to a point is adjacent to one of its
    ``K_VERTICES`` nearest vertices; new vertices lie on the lon/lat straight line
    between the original ones (as the polygon edges do).
    """

    tree: object  # scipy.spatial.cKDTree over vertices in SEARCH_CRS metres
    vert_segs: np.ndarray  # (m, 2) segment ending / starting at each vertex, -1 if none
    seg_lonlat: np.ndarray  # (n, 4) lon0, lat0, lon1, lat1
    seg_xy: np.ndarray  # (n, 4) in SEARCH_CRS metres
    seg_mile0: np.ndarray  # border mile at the start of each segment
    seg_miles: np.ndarray  # geodesic length of each segment in miles
    seg_us_left: np.ndarray  # True where the US lies left of the segment's direction
    seg_sector: np.ndarray  # row in the sectors layer of the US side of each segment
    # (5, n) start x, start y, dx, dy, dx² + dy² of each segment in SEARCH_CRS, for evaluate
    seg_parts: np.ndarray

    @classmethod
    def build(cls, lines, to_search, sectors, sector_index, *, densify_m: float,
              simplify_m: float = 0.0) -> _LineIndex:
        """Build from ``[(lonlat (n, 2), mile offset, us_left), ...]`` directed lines."""
        from scipy.spatial import cKDTree

        parts = {k: [] for k in ("ll", "mile0", "miles", "left", "line")}
        for line_no, (ll, offset, us_left) in enumerate(lines):
            cum = offset + geodesic_miles(ll)
            keep = np.arange(len(ll))
            if simplify_m:
                # Douglas-Peucker keeps a subset of the vertices, so their miles stay exact.
                x, y = to_search.transform(ll[:, 0], ll[:, 1])
                simple = shapely.get_coordinates(
                    shapely.simplify(shapely.linestrings(x, y), simplify_m))
                pos = {xy: i for i, xy in enumerate(zip(x.tolist(), y.tolist()))}
                keep = np.array(sorted(pos[xy] for xy in map(tuple, simple.tolist())))
            a, b = keep[:-1], keep[1:]
            parts["ll"].append(np.column_stack([ll[a], ll[b]]))
            parts["mile0"].append(cum[a])
            parts["miles"].append(cum[b] - cum[a])
            parts["left"].append(np.full(len(a), us_left))
            parts["line"].append(np.full(len(a), line_no))
        ll = np.vstack(parts["ll"])
        mile0, miles = np.concatenate(parts["mile0"]), np.concatenate(parts["miles"])
        left, line = np.concatenate(parts["left"]), np.concatenate(parts["line"])
        ok = miles > 0
        ll, mile0, miles, left, line = ll[ok], mile0[ok], miles[ok], left[ok], line[ok]

        x0, y0 = to_search.transform(ll[:, 0], ll[:, 1])
        x1, y1 = to_search.transform(ll[:, 2], ll[:, 3])
        length = np.hypot(x1 - x0, y1 - y0)
        n_sub = np.maximum(1, np.ceil(length / densify_m).astype(np.int64))
        src = np.repeat(np.arange(len(n_sub)), n_sub)
        k = np.arange(len(src)) - np.repeat(np.cumsum(n_sub) - n_sub, n_sub)
        f0, f1 = k / n_sub[src], (k + 1) / n_sub[src]
        s = ll[src]
        seg_ll = np.column_stack([s[:, 0] + f0 * (s[:, 2] - s[:, 0]),
                                  s[:, 1] + f0 * (s[:, 3] - s[:, 1]),
                                  s[:, 0] + f1 * (s[:, 2] - s[:, 0]),
                                  s[:, 1] + f1 * (s[:, 3] - s[:, 1])])
        sx0, sy0 = to_search.transform(seg_ll[:, 0], seg_ll[:, 1])
        sx1, sy1 = to_search.transform(seg_ll[:, 2], seg_ll[:, 3])
        seg_xy = np.column_stack([sx0, sy0, sx1, sy1])
        seg_line = line[src]
        n = len(src)
        # Segment i continues into i+1 when both belong to the same line.
        cont = np.zeros(n, dtype=bool)
        cont[:-1] = seg_line[1:] == seg_line[:-1]
        prev = np.where(np.concatenate([[False], cont[:-1]]), np.arange(n) - 1, -1)
        ends = np.flatnonzero(~cont)
        verts = np.vstack([np.column_stack([sx0, sy0]), np.column_stack([sx1[ends], sy1[ends]])])
        vert_segs = np.vstack([np.column_stack([prev, np.arange(n)]),
                               np.column_stack([ends, np.full(len(ends), -1)])])

        # The sector of a stretch of border is the sector polygon just on its US side:
        # step 30 m from each segment's midpoint towards the US and look the point up.
        seg_left = left[src]
        dx, dy = sx1 - sx0, sy1 - sy0
        step = np.where(seg_left, 1.0, -1.0) * 30.0 / np.hypot(dx, dy)
        mlon, mlat = to_search.transform((sx0 + sx1) / 2 - dy * step,
                                         (sy0 + sy1) / 2 + dx * step, direction="INVERSE")
        hit = sector_index.lookup(mlon, mlat)
        miss = np.flatnonzero(hit < 0)
        if len(miss):
            # Disputed-water medians and coarse segments: nearest sector polygon.
            stree = shapely.STRtree(sectors.geometry.values)
            _, near = stree.query_nearest(shapely.points(mlon[miss], mlat[miss]),
                                          all_matches=False)
            hit[miss] = near
        dx, dy = seg_xy[:, 2] - seg_xy[:, 0], seg_xy[:, 3] - seg_xy[:, 1]
        parts = np.vstack([seg_xy[:, 0], seg_xy[:, 1], dx, dy, dx * dx + dy * dy])
        return cls(cKDTree(verts), vert_segs, seg_ll, seg_xy,
                   mile0[src] + f0 * miles[src], (f1 - f0) * miles[src], seg_left, hit, parts)

    def evaluate(self, px: np.ndarray, py: np.ndarray, vi: np.ndarray):
        """Nearest of the segments adjacent to the given nearest vertices ``vi`` (n, k)."""
        cand = self.vert_segs[vi].reshape(len(px), -1)
        valid = cand >= 0
        cand[~valid] = 0
        # Contiguous gathers of per-segment values computed once at load: the same
        # arithmetic as from the coordinates (so the same results), half the time of one
        # (n, c, 4) gather plus strided differences.
        ax, ay, dx, dy, dd = (part[cand] for part in self.seg_parts)
        rx, ry = px[:, None] - ax, py[:, None] - ay
        tt = (rx * dx + ry * dy) / dd
        np.clip(tt, 0.0, 1.0, out=tt)
        rx -= tt * dx
        ry -= tt * dy
        d2 = rx * rx + ry * ry
        d2[~valid] = np.inf
        best = np.argmin(d2, axis=1)
        rows = np.arange(len(px))
        return cand[rows, best], tt[rows, best], d2[rows, best]


def _thresholds() -> list[float]:
    """Nearest-vertex distance (m) beyond which a point stops on each search level but the last."""
    return [refine_below + tol + spacing / 2 for tol, spacing, refine_below in LEVELS[:-1]]


def _border_grid(levels, cell=BORDER_GRID[0], ratio=BORDER_GRID[1]) -> _Grid:
    """Grid of the first search level each point needs (0 = the coarsest).

    A point on level ``k`` continues to ``k + 1`` when its nearest vertex is within that
    level's threshold. Nearest-vertex distance changes by at most the distance moved, so
    when the distance from a cell's centre plus the cell's half-diagonal is within the
    threshold, every point of the cell continues: measuring it from the level after the
    last such one gives the same answer without the coarser queries. Coarse cells whose
    points may differ are split into fine cells.
    """
    thresholds = _thresholds()
    verts = levels[0].tree.data
    reach = thresholds[0] + cell
    grid = _Grid.empty(verts[:, 0].min() - reach, verts[:, 1].min() - reach,
                       verts[:, 0].max() + reach, verts[:, 1].max() + reach, cell, ratio, 0)

    def first_levels(x, y, half_diagonal, start):
        first = start.astype(np.int8)
        split = np.zeros(len(x), bool)
        for k, limit in enumerate(thresholds):
            at = np.flatnonzero(first == k)
            if not len(at):
                break
            d, _ = levels[k].tree.query(np.column_stack([x[at], y[at]]), k=1)
            go = d + half_diagonal + _GRID_MARGIN_M <= limit
            first[at[go]] = k + 1
            # Part of the cell may continue where the centre is within a cell of the limit.
            split[at[~go]] = d[~go] - half_diagonal < limit
        return first, split

    coarse = grid.coarse.ravel()
    first, split = first_levels(*grid.coarse_centres(np.arange(coarse.size)),
                                cell * np.sqrt(0.5), np.zeros(coarse.size, np.int8))
    coarse[:] = first
    refined = np.flatnonzero(split)
    grid.block_of.ravel()[refined] = np.arange(len(refined), dtype=np.int32)
    block, rest = np.divmod(np.arange(len(refined) * ratio * ratio), ratio * ratio)
    j, i = np.divmod(rest, ratio)
    # A fine cell passes the levels its coarse cell passes (it lies inside it).
    fine_first, _ = first_levels(*grid.fine_centres(block, j, i), grid.fine * np.sqrt(0.5),
                                 coarse[refined][block])
    blocks = fine_first.reshape(-1, ratio, ratio)
    coarse[refined] = _REFINED
    return dataclasses.replace(grid, blocks=blocks.astype(np.int8))


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


def _local_distance(lon0, lat0, lon1, lat1) -> np.ndarray:
    """Ellipsoidal distance (m) by the meridian and prime-vertical radii at the mid-latitude.

    Accurate to 0.1 m up to 20 km and 40 m at 150 km between 40 and 72 degrees north
    (checked against ``Geod.inv``); used only below `APPROX_MAX_M`, where the simplified
    search levels' own error is larger.
    """
    mid = np.radians((lat0 + lat1) * 0.5)
    sin = np.sin(mid)
    w = 1.0 - _E2 * sin * sin
    north = _A * (1.0 - _E2) / (w * np.sqrt(w)) * np.radians(lat1 - lat0)
    east = _A / np.sqrt(w) * np.cos(mid) * np.radians(lon1 - lon0)
    return np.hypot(north, east)


def border_position(lon, lat, regions: Regions | None = None, *,
                    exact_near: tuple = ()) -> dict:
    """Measure points against the border: geodesic distance, border mile, side, sector.

    Points within ~2 km of the border are measured on the full-resolution line;
    farther points on simplified copies (see ``LEVELS``): the error stays below 25 m
    within 20 km, 500 m within 150 km and 5 km beyond. The distance to the nearest point
    is geodesic (``Geod.inv``) within ~2 km, beyond `APPROX_MAX_M` and within
    `EXACT_MARGIN_M` of every distance in `exact_near` (metres: the thresholds the caller
    compares with); elsewhere a local ellipsoidal formula within 0.1 m (20 km) to 40 m
    (150 km) of it.

    Parameters
    ----------
    lon, lat : array_like
        WGS84 coordinates (degrees, EPSG:4326); must be finite and in range.
    exact_near : tuple of float
        Distances (m) around which the geodesic inverse is always used.

    Returns
    -------
    dict of numpy arrays
        ``distance_m`` (unsigned, geodesic), ``mile``, ``us_side_by_line`` (True where
        the point lies on the US side of the directed line) and ``sector`` (of the
        nearest stretch of border).
    """
    regions = regions or load()
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    px, py = regions._to_search.transform(lon, lat)
    n = len(px)
    level = np.zeros(n, dtype=np.int64)
    seg = np.zeros(n, dtype=np.int64)
    tt = np.zeros(n)
    # Each point starts on the first level the grid cannot rule out; on the levels it
    # skips it would have continued anyway, so the answer is the same.
    first = (regions._border_grid.codes(px, py) if regions._border_grid is not None
             else np.zeros(n, dtype=np.int8))
    todo = np.empty(0, dtype=np.int64)
    for k, (index, (tol, spacing, refine_below)) in enumerate(zip(regions._levels, LEVELS)):
        todo = np.concatenate([todo, np.flatnonzero(first == k)])
        if not len(todo):
            continue
        # Two vertices suffice on the simplified levels, whose vertices are sparse
        # relative to the distances searched; the full line uses K_VERTICES.
        d_v, vi = index.tree.query(np.column_stack([px[todo], py[todo]]),
                                   k=K_VERTICES if refine_below is None else 2, workers=-1)
        if refine_below is None:
            stop = np.ones(len(todo), dtype=bool)
        else:
            # The nearest vertex is at most half a spacing farther than the line, and
            # the next line is within `tol` of this one: this margin cannot miss.
            stop = d_v[:, 0] > refine_below + tol + spacing / 2
        here = todo[stop]
        if len(here):
            s_k, t_k, _ = index.evaluate(px[here], py[here], vi[stop])
            level[here], seg[here], tt[here] = k, s_k, t_k
        todo = todo[~stop]

    # One gather per attribute from the levels' segments stacked end to end.
    row = regions._seg_offset[level] + seg
    table = regions._segments
    lonlat, xy = table["seg_lonlat"][row], table["seg_xy"][row]
    # The border is a straight line in lon/lat between vertices (as are the polygon
    # edges the join uses), so the nearest point is placed on that line.
    qlon = lonlat[:, 0] + tt * (lonlat[:, 2] - lonlat[:, 0])
    qlat = lonlat[:, 1] + tt * (lonlat[:, 3] - lonlat[:, 1])
    # Geodesic inverse where it decides something or the search is exact; the local
    # formula on the middle levels (a third of the time of the whole measure otherwise).
    dist = np.empty(n)
    mid = np.flatnonzero((level != 0) & (level != len(LEVELS) - 1))
    d_mid = _local_distance(lon[mid], lat[mid], qlon[mid], qlat[mid])
    exact = d_mid >= APPROX_MAX_M
    for threshold in exact_near:
        exact |= np.abs(d_mid - threshold) < EXACT_MARGIN_M
    dist[mid] = d_mid
    geodesic = np.ones(n, dtype=bool)
    geodesic[mid[~exact]] = False
    sel = np.flatnonzero(geodesic)
    if len(sel):
        _, _, dist[sel] = GEOD.inv(lon[sel], lat[sel], qlon[sel], qlat[sel])
    dx, dy = xy[:, 2] - xy[:, 0], xy[:, 3] - xy[:, 1]
    cross = dx * (py - xy[:, 1]) - dy * (px - xy[:, 0])
    return {
        "distance_m": dist,
        "mile": table["seg_mile0"][row] + tt * table["seg_miles"][row],
        "us_side_by_line": (cross > 0) == table["seg_us_left"][row],
        "sector": regions.sectors["code"].to_numpy(dtype=object)[table["seg_sector"][row]],
    }


def assign(lon, lat, regions: Regions | None = None, *, at_border_m: float = 100.0,
           max_border_km: float = 100.0, aoi_km: float = DEFAULT_AOI_KM) -> pd.DataFrame:
    """Join points to admin1, side of the border, sector and border position.

    Parameters
    ----------
    lon, lat : array_like of float
        WGS84 longitude and latitude in degrees (EPSG:4326).
    regions : Regions, optional
        Loaded layers; defaults to :func:`load` of the project's GeoPackage.
    at_border_m : float
        Points within this geodesic distance of the border get ``at_border``.
    max_border_km : float
        Canadian-side points within this distance get the sector of the nearest
        stretch of border.
    aoi_km : float
        Points farther than this from the border are outside the area of interest.

    Returns
    -------
    pandas.DataFrame
        One row per point: ``admin1``, ``country``, ``sector``, ``border_mile``,
        ``border_km`` (negative on the US side, positive on the Canadian side),
        ``at_border`` and ``reason`` (None inside the area of interest).
    """
    regions = regions or load()
    lon = np.asarray(lon, dtype=float).ravel()
    lat = np.asarray(lat, dtype=float).ravel()
    n = len(lon)
    valid = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90)
    vi = np.flatnonzero(valid)
    x, y = lon[vi], lat[vi]

    a_idx = _lookup(regions._admin1_index, regions._admin1_grid, x, y)
    codes = regions.admin1["code"].to_numpy(dtype=object)
    countries = regions.admin1["country"].to_numpy(dtype=object)
    admin1 = np.full(n, None, dtype=object)
    country = np.full(n, None, dtype=object)
    hit = a_idx >= 0
    admin1[vi[hit]] = codes[a_idx[hit]]
    country[vi[hit]] = countries[a_idx[hit]]

    pos = border_position(x, y, regions, exact_near=(
        at_border_m, max_border_km * 1000.0, aoi_km * 1000.0))
    dist = pos["distance_m"]
    # Country per point from its admin1 row (64 string comparisons, not one per point).
    row = np.where(hit, a_idx, 0)
    is_us = hit & (countries == "US")[row]
    is_ca = hit & (countries == "CA")[row]
    # Outside both countries (open sea) the side comes from the border's orientation.
    us_side = np.where(is_us, True, np.where(is_ca, False, pos["us_side_by_line"]))
    border_km = np.full(n, np.nan)
    border_km[vi] = np.where(us_side, -dist, dist) / 1000.0
    border_mile = np.full(n, np.nan)
    border_mile[vi] = pos["mile"]

    sector = np.full(n, None, dtype=object)
    s_codes = regions.sectors["code"].to_numpy(dtype=object)
    us_i = np.flatnonzero(is_us)
    if len(us_i):
        s_idx = _lookup(regions._sector_index, regions._sector_grid, x[us_i], y[us_i])
        ok = s_idx >= 0
        sector[vi[us_i[ok]]] = s_codes[s_idx[ok]]
    near_ca = is_ca & (dist <= max_border_km * 1000.0)
    sector[vi[near_ca]] = pos["sector"][near_ca]

    at_border = np.zeros(n, dtype=bool)
    at_border[vi] = dist <= at_border_m

    reason = np.full(n, None, dtype=object)
    reason[~valid] = "invalid coordinates (longitude must be -180..180, latitude -90..90)"
    far = np.flatnonzero(dist > aoi_km * 1000.0)
    if len(far):
        # ",.0f" rounds half to even like np.rint, so each distinct whole number of
        # kilometres is formatted once (a quarter of a million far points is common).
        km, inverse = np.unique(np.rint(dist[far] / 1000.0), return_inverse=True)
        text = np.array([f"outside the US–Canada border area ({k:,.0f} km from the border)"
                         for k in km], dtype=object)
        reason[vi[far]] = text[inverse]

    # Explicit object dtype keeps None (pandas 3 would infer a string dtype with NaN).
    return pd.DataFrame({
        "admin1": pd.Series(admin1, dtype=object),
        "country": pd.Series(country, dtype=object),
        "sector": pd.Series(sector, dtype=object),
        "border_mile": border_mile, "border_km": border_km,
        "at_border": at_border,
        "reason": pd.Series(reason, dtype=object),
    })


@functools.cache
def _border_miles(path: str) -> dict[str, float]:
    regions = _load(path)
    level = regions._levels[-1]
    lon0, lat0, lon1, lat1 = level.seg_lonlat.T
    mid_lon, mid_lat = (lon0 + lon1) / 2, (lat0 + lat1) / 2
    # Unit normal of each segment in a local equirectangular frame, 200 m long.
    coslat = np.cos(np.radians(mid_lat))
    dx, dy = (lon1 - lon0) * coslat, lat1 - lat0
    norm = np.hypot(dx, dy)
    norm[norm == 0] = 1.0
    step = 200.0 / 111_320.0
    nx, ny = -dy / norm * step, dx / norm * step
    miles: dict[str, float] = {}
    codes = regions.admin1["code"].to_numpy(dtype=object)
    s_codes = regions.sectors["code"].to_numpy(dtype=object)
    found = []
    for sign in (1.0, -1.0):
        px, py = mid_lon + sign * nx / coslat, mid_lat + sign * ny
        found.append(regions._admin1_index.lookup(px, py))
    # Each segment counts once for every distinct unit on either side of it.
    for a, b, length in zip(found[0], found[1], level.seg_miles):
        for idx in {a, b} - {-1}:
            miles[codes[idx]] = miles.get(codes[idx], 0.0) + float(length)
    sector_rows = level.seg_sector
    for row, length in zip(sector_rows, level.seg_miles):
        if row >= 0:
            miles[s_codes[row]] = miles.get(s_codes[row], 0.0) + float(length)
    return miles


def border_miles(regions: Regions | None = None) -> dict[str, float]:
    """Return the miles of international border each state, province and sector touches.

    Each full-resolution border segment counts for the admin1 units found 200 m to either
    side of its midpoint and for the sector of its US side. Used to show counts per border
    mile.

    Parameters
    ----------
    regions : Regions, optional
        Loaded layers; defaults to :func:`load` of the project's GeoPackage.

    Returns
    -------
    dict of str to float
        Code (``US-WA``, ``CA-BC``, ``BLW`` …) to geodesic miles.
    """
    regions = regions or load()
    return dict(_border_miles(str(regions.path.resolve())))
