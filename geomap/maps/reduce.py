"""Reduce a selection of incidents to what a layer draws (`Aggregates`), from a DataFrame with
numpy (`aggregate_frame`) or from the database with SQL GROUP BY (`aggregate_db`).

Any number of incidents become grid cells fitted to the selection's extent and capped at
``heat_max_cells``, at most ``cluster_limit`` points, or counts per region, border segment or
period. Cells and regions with fewer than ``min_public_count`` incidents are dropped
(`geomap.disclosure`; the spec carries the threshold the view chose); a choropleth's
classes, class breaks and hidden count are computed here too (`classify`), and the first
view (`framing.weight_box` of the cells or points already computed), so everything after
this step only reads the aggregates.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .. import aggregate
from ..binning import cell_keys, fit_cell, grid_origin, rollup_factor
from .breaks import class_breaks
from .display import segment_steps
from .framing import weight_box
from ..disclosure import hide_small, is_hidden, rows_allowed
from .grid import bounds_of, cell_centres, fit_grid, group_cells, period_keys
from .spec import Aggregates, MapSpec, per_border_mile


def aggregate_frame(frame: pd.DataFrame, spec: MapSpec,
                    layers: Mapping[str, Any] | None = None) -> Aggregates:
    """Reduce an incident DataFrame (columns of the incidents table) for spec's layer.

    Parameters
    ----------
    frame : pandas.DataFrame
        Needs ``lat``, ``lon``; uses ``count`` (default 1), ``occurred_at`` (time layer),
        ``admin1``/``sector``/``border_mile`` (choropleth) and popup columns (cluster).
    spec : MapSpec
    layers : mapping, optional
        Display layers (see `display_layers`); a border-segment choropleth counts per
        segment of ``layers["border_segment"]`` (none without it).

    Returns
    -------
    Aggregates
    """
    lat = frame["lat"].to_numpy(dtype=float)
    lon = frame["lon"].to_numpy(dtype=float)
    counts = (frame["count"].to_numpy(dtype=np.int64) if "count" in frame
              else np.ones(len(frame), dtype=np.int64))
    ones = np.ones(len(frame), dtype=np.int64)
    agg = Aggregates(n=len(frame), total=int(counts.sum()))
    if len(frame):
        agg.bounds = bounds_of(lat.min(), lat.max(), lon.min(), lon.max())
        agg.view = weight_box(lat, lon, counts)
    layer = spec.layer
    if (layer == "cluster" and agg.n <= spec.cluster_limit
            and rows_allowed(spec.min_public_count)):
        agg.points = frame.reset_index(drop=True)
        return agg
    if layer in ("heat", "cluster", "time"):
        cell = fit_cell(agg.bounds)
        lat0 = grid_origin(lat.min(), cell) if len(frame) else 0.0
        lon0 = grid_origin(lon.min(), cell) if len(frame) else 0.0
        gy, gx = cell_keys(lat, lat0, cell), cell_keys(lon, lon0, cell)
        if layer == "time":
            periods, pidx = period_keys(frame["occurred_at"], spec.period)
            fine = group_cells(gy, gx, ones, counts, pidx)
            _finish_time(agg, fine, periods, cell, lat0, lon0, spec)
        else:
            fine = group_cells(gy, gx, ones, counts)
            _finish_cells(agg, fine, cell, lat0, lon0, spec)
        return agg
    if layer == "choropleth":
        if spec.by == "border_segment":
            steps = segment_steps(layers)
            if steps is not None:
                agg.segments = aggregate.by_border_segment_frame(frame, steps)
        else:
            table = pd.DataFrame({"key": frame[spec.by], "n": 1, "total": counts})
            agg.regions = (table.groupby("key", as_index=False, dropna=False)[["n", "total"]]
                           .sum())
        classify(agg, spec, layers)
        return agg
    raise ValueError(f"unknown layer {layer!r}")


def _view_of_cells(fine: pd.DataFrame, cell: float, lat0: float, lon0: float
                   ) -> list[list[float]] | None:
    """The first view from fine grid cells (``gy``, ``gx``, ``total``), half a cell padded."""
    centres = cell_centres(fine, lat0, lon0, cell)
    return weight_box(centres["lat"], centres["lon"], centres["total"], pad=cell / 2)


def _finish_cells(agg: Aggregates, fine: pd.DataFrame, cell: float, lat0: float, lon0: float,
                  spec: MapSpec) -> None:
    if agg.view is None:
        agg.view = _view_of_cells(fine, cell, lat0, lon0)
    cells, size = fit_grid(fine, cell, spec.heat_max_cells)
    cells, agg.hidden = hide_small(cells, spec.min_public_count)
    agg.cell = size
    agg.cells = cell_centres(cells, lat0, lon0, size)
    agg.aggregated = spec.layer == "cluster"


def _finish_time(agg: Aggregates, fine: pd.DataFrame, periods: list[str], cell: float,
                 lat0: float, lon0: float, spec: MapSpec) -> None:
    if agg.view is None:
        agg.view = _view_of_cells(fine, cell, lat0, lon0)
    cells, size = fit_grid(fine, cell, spec.heat_max_cells, by_period=True)
    cells, agg.hidden = hide_small(cells, spec.min_public_count)
    agg.cell = size
    agg.periods = [str(p) for p in periods]
    agg.frames = cell_centres(cells, lat0, lon0, size)


def aggregate_db(conn, dataset_id: int, filters: Mapping[str, Any] | None,
                 spec: MapSpec, layers: Mapping[str, Any] | None = None) -> Aggregates:
    """Reduce a dataset's matching incidents for spec's layer with SQL GROUP BY.

    Same result shape as `aggregate_frame` (with the same `layers`); only cluster maps with
    at most ``spec.cluster_limit`` incidents load rows.
    """
    # A whole dataset's extent and heat/cluster grid come from its grid rollup when it has
    # one (thousands of rows instead of millions); a selection always reads the incidents.
    rollup = (aggregate.rollup_extent(conn, dataset_id) if aggregate.unfiltered(filters)
              else None)
    ext = rollup or aggregate.extent(conn, dataset_id, filters)
    agg = Aggregates(n=ext["n"], total=ext["total"],
                     bounds=bounds_of(ext["lat_min"], ext["lat_max"], ext["lon_min"],
                                      ext["lon_max"]))
    layer = spec.layer
    if agg.n == 0:
        if layer == "time":
            agg.frames = pd.DataFrame(columns=["lat", "lon", "pidx", "n", "total"])
        elif layer in ("heat", "cluster"):
            agg.cells = pd.DataFrame(columns=["lat", "lon", "n", "total"])
            agg.cell = fit_cell(None)
        else:
            if spec.by != "border_segment":
                agg.regions = pd.DataFrame(columns=["key", "n", "total"])
            classify(agg, spec, layers)
        return agg
    if (layer == "cluster" and agg.n <= spec.cluster_limit
            and rows_allowed(spec.min_public_count)):
        agg.points = aggregate.points(conn, dataset_id, filters, spec.cluster_limit)
        weights = (agg.points["count"].fillna(1) if "count" in agg.points
                   else np.ones(len(agg.points)))
        agg.view = weight_box(agg.points["lat"], agg.points["lon"], weights)
        return agg
    if layer in ("heat", "cluster", "time"):
        cell = fit_cell(agg.bounds)
        lat0 = grid_origin(ext["lat_min"], cell)
        lon0 = grid_origin(ext["lon_min"], cell)
        if layer == "time":
            fine = aggregate.grid(conn, dataset_id, filters, cell=cell, lat0=lat0, lon0=lon0,
                                  period=spec.period)
            periods, pidx = np.unique(fine["period"].to_numpy(dtype=str), return_inverse=True)
            fine = fine.drop(columns=["period"]).assign(pidx=pidx.ravel().astype(np.int64))
            _finish_time(agg, fine, list(periods), cell, lat0, lon0, spec)
        elif rollup and rollup_factor(rollup["rollup_cell"], cell):
            fine = aggregate.grid_from_rollup(conn, dataset_id, cell=cell, lat0=lat0,
                                              lon0=lon0, rollup_cell=rollup["rollup_cell"])
            _finish_cells(agg, fine, cell, lat0, lon0, spec)
        else:
            fine = aggregate.grid(conn, dataset_id, filters, cell=cell, lat0=lat0, lon0=lon0)
            _finish_cells(agg, fine, cell, lat0, lon0, spec)
        return agg
    if spec.by == "border_segment":
        steps = segment_steps(layers)
        if steps is not None:
            agg.segments = aggregate.by_border_segment(conn, dataset_id, filters, steps)
    else:
        agg.regions = aggregate.by_column(conn, dataset_id, filters, spec.by)
    classify(agg, spec, layers)
    agg.view = _view_db(conn, dataset_id, filters, agg, rollup)
    return agg


def _view_db(conn, dataset_id: int, filters: Mapping[str, Any] | None, agg: Aggregates,
             rollup: Mapping[str, Any] | None) -> list[list[float]] | None:
    """The first view of a choropleth: from the grid rollup when it can answer (a whole
    dataset), else from one GROUP BY on the grid the heat map would use."""
    cell = fit_cell(agg.bounds)
    (lat_min, lon_min), _top = agg.bounds
    lat0, lon0 = grid_origin(lat_min, cell), grid_origin(lon_min, cell)
    if rollup and rollup_factor(rollup["rollup_cell"], cell):
        fine = aggregate.grid_from_rollup(conn, dataset_id, cell=cell, lat0=lat0, lon0=lon0,
                                          rollup_cell=rollup["rollup_cell"])
    else:
        fine = aggregate.grid(conn, dataset_id, filters, cell=cell, lat0=lat0, lon0=lon0)
    return _view_of_cells(fine, cell, lat0, lon0)


def classify(agg: Aggregates, spec: MapSpec, layers: Mapping[str, Any] | None) -> None:
    """Set a choropleth's classes, class breaks and hidden count on `agg` (in place).

    Parameters
    ----------
    agg : Aggregates
        With ``regions`` (by admin1 or sector) or ``segments`` (by border segment) counted.
    spec : MapSpec
        ``by``, ``per``, ``border_miles`` and ``min_public_count`` decide the values and
        which regions are hidden.
    layers : mapping, optional
        Display layers: the regions or segments drawn, in the order they are drawn. Without
        the layer there is nothing to draw, so no classes, breaks or hidden regions.

    Notes
    -----
    ``agg.classes`` has one row per drawn region or segment: ``code``, ``name`` (segments
    only), ``n``, ``total``, ``value`` (the total, or the total per border mile) and
    ``hidden`` (fewer than ``min_public_count`` incidents, but some). Breaks are the
    quantiles of the visible values, rounded (`breaks.class_breaks`). The payload and the
    legend only read them, so they agree whichever is asked for first.
    """
    layers = layers or {}
    min_count = spec.min_public_count
    name = None
    if spec.by == "border_segment":
        steps = segment_steps(layers)
        if steps is None:
            return
        gdf = layers["border_segment"]
        counts = agg.segments
        if counts is None:
            counts = steps.table.assign(n=0, total=0)
        # The row of incidents in no segment (code None) is counted in agg.n, drawn nowhere.
        keys = [str(code) for code in gdf["code"]]
        table = counts.loc[counts["code"].notna()].set_index("code").reindex(keys)
        n = table["n"].to_numpy(dtype=float)
        total = table["total"].to_numpy(dtype=float)
        length = np.maximum((table["mile_to"] - table["mile_from"]).to_numpy(dtype=float), 0.1)
        values = total / length
        name = table["name"].to_numpy(dtype=object)
    else:
        gdf = layers.get(spec.by)
        regions = agg.regions if agg.regions is not None else pd.DataFrame(
            columns=["key", "n", "total"])
        if gdf is None or gdf.empty:
            return
        lookup = {str(k): (int(a), int(b)) for k, a, b in
                  zip(regions["key"], regions["n"], regions["total"]) if k is not None
                  and not (isinstance(k, float) and math.isnan(k))}
        keys = [str(c) for c in gdf["code"]]
        n = np.asarray([lookup.get(k, (0, 0))[0] for k in keys], dtype=float)
        total = np.asarray([lookup.get(k, (0, 0))[1] for k in keys], dtype=float)
        values = total
        if per_border_mile(spec):
            # Regions that touch no border have no per-mile value (drawn as "none recorded").
            length = np.asarray([spec.border_miles.get(k, 0.0) for k in keys], dtype=float)
            values = np.divide(total, length, out=np.zeros_like(total), where=length > 0)
    hidden = is_hidden(n, min_count)
    agg.breaks = class_breaks(np.where(hidden, 0, values))
    agg.hidden = int(hidden.sum())
    agg.classes = pd.DataFrame({"code": keys, "n": n, "total": total, "value": values,
                                "hidden": hidden})
    if name is not None:
        agg.classes["name"] = name
