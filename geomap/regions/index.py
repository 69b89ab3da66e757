"""Polygon index (bbox mask + ``contains_xy``) and the lookup grids that answer most points.

The grids only skip work whose outcome is already decided: :func:`_lookup` through a grid
returns exactly what ``_PolygonIndex.lookup`` returns.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import shapely


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
