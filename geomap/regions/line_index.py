"""The border line's search index: densified segments per search level and the border grid.

Built once by :func:`geomap.regions.layers.load`; :func:`geomap.regions.border.border_position`
measures points with it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import shapely

from .geodesy import geodesic_miles
from .index import _REFINED, _Grid

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
#: Border grid: coarse cell (m, EPSG:3978) and fine cells per coarse side (2 km; 1 km cells
#: save ~2 % of the KD-tree queries for four times the build time).
BORDER_GRID = (16_000.0, 8)
#: Slack (m) on the border grid's distance bounds, far above the KD-tree's rounding.
_GRID_MARGIN_M = 1.0


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
