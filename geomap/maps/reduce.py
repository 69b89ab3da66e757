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
from .grid import bounds_of, cell_centres, fit_grid, group_cells
from .spec import Aggregates, MapSpec, per_border_mile
from . import timeline


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
    counts = (frame["count"].to_numpy(dtype=np.int64) if "count" in frame
              else np.ones(len(frame), dtype=np.int64))
    agg = Aggregates(n=len(frame), total=int(counts.sum()))
    layer = spec.layer
    lat = pd.to_numeric(frame["lat"], errors="coerce").to_numpy(dtype=float)
    located = np.isfinite(lat)
    regional = None  # the time layer counts them per frame
    if not located.all():  # rows known by sector or state only: counted, never drawn
        agg.regional_n = int((~located).sum())
        agg.regional_total = int(counts[~located].sum())
        if layer == "time" and located.any():
            regional = frame[~located].assign(count=counts[~located])
        if layer != "choropleth":
            frame, counts, lat = frame[located], counts[located], lat[located]
    lon = pd.to_numeric(frame["lon"], errors="coerce").to_numpy(dtype=float)
    ones = np.ones(len(frame), dtype=np.int64)
    if np.isfinite(lat).any():
        agg.bounds = bounds_of(np.nanmin(lat), np.nanmax(lat), np.nanmin(lon), np.nanmax(lon))
        drawn = np.isfinite(lat) & np.isfinite(lon)  # a choropleth keeps region-only rows
        agg.view = weight_box(lat[drawn], lon[drawn], counts[drawn])
    if (layer == "cluster" and agg.n <= spec.cluster_limit
            and rows_allowed(spec.min_public_count)):
        agg.points = frame.reset_index(drop=True)
        return agg
    if layer in ("heat", "cluster", "time"):
        cell = fit_cell(agg.bounds)
        lat0 = grid_origin(lat.min(), cell) if len(frame) else 0.0  # all located here
        lon0 = grid_origin(lon.min(), cell) if len(frame) else 0.0
        gy, gx = cell_keys(lat, lat0, cell), cell_keys(lon, lon0, cell)
        if layer == "time":
            _frame_time(agg, frame, gy, gx, counts, cell, lat0, lon0, spec, regional)
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


def _precision_of(frame: pd.DataFrame) -> pd.Series:
    return (frame["precision"].fillna("day").astype(str) if "precision" in frame
            else pd.Series("day", index=frame.index))


def _frame_time(agg: Aggregates, frame: pd.DataFrame, gy, gx, counts, cell: float,
                lat0: float, lon0: float, spec: MapSpec,
                regional: pd.DataFrame | None = None) -> None:
    """The time layer of an incident DataFrame (`timeline.frame` over numpy cells);
    `regional`: the rows known only by region (with ``count``), counted per frame."""
    when = pd.to_datetime(frame["occurred_at"])
    precision = _precision_of(frame)
    # Precisions and span of every matching record, as the SQL path reads them.
    everything = pd.DataFrame({"precision": precision, "n": 1, "total": counts})
    if regional is not None:
        everything = pd.concat([everything, pd.DataFrame({
            "precision": _precision_of(regional), "n": 1,
            "total": regional["count"].to_numpy(dtype=np.int64)})])
        when_all = pd.concat([when, pd.to_datetime(regional["occurred_at"])])
    else:
        when_all = when
    sums = everything.groupby("precision")[["n", "total"]].sum()
    precisions = {str(k): (int(r.n), int(r.total)) for k, r in sums.iterrows()}

    def fetch(period: str):
        admitted = precision.isin(aggregate.ADMITTED[period]).to_numpy()
        periods, pidx = _period_index(aggregate.period_labels(when[admitted], period))
        fine = group_cells(gy[admitted], gx[admitted], np.ones(int(admitted.sum()), np.int64),
                           counts[admitted], pidx)
        return fine, periods

    count_regional = None
    if regional is not None:
        r_when = pd.to_datetime(regional["occurred_at"])
        r_precision = _precision_of(regional)

        def count_regional(period: str) -> pd.DataFrame:
            admitted = r_precision.isin(aggregate.ADMITTED[period]).to_numpy()
            return pd.DataFrame({
                "period": aggregate.period_labels(r_when[admitted], period).to_numpy(dtype=str),
                "n": 1, "total": regional["count"].to_numpy(dtype=np.int64)[admitted]})

    first = when_all.min().date() if len(when_all) else None
    last = when_all.max().date() if len(when_all) else None
    _finish_time(agg, fetch, first, last, precisions, cell, lat0, lon0, spec, count_regional)


def _finish_time(agg: Aggregates, fetch, first, last, precisions, cell: float, lat0: float,
                 lon0: float, spec: MapSpec, regional=None) -> None:
    cells, periods, size, agg.framing = timeline.frame(
        fetch, asked=spec.period, first=first, last=last, precisions=precisions, cell=cell,
        max_cells=spec.heat_max_cells, max_frames=spec.time_max_frames,
        max_rows=spec.time_max_rows, cumulative=spec.cumulative, regional=regional)
    # Each frame's records known only by region, under the small-count rule like the cells.
    framing = agg.framing
    framing.min_count = spec.min_public_count
    framing.regional_total = [None if is_hidden(n, spec.min_public_count) else t
                              for n, t in zip(framing.regional_n, framing.regional_total)]
    if agg.view is None:  # every frame's cells together (a place's weight over time)
        agg.view = _view_of_cells(cells, size, lat0, lon0)
    cells, agg.hidden = hide_small(cells, spec.min_public_count)
    agg.cell = size
    agg.periods = periods
    agg.frames = cell_centres(cells, lat0, lon0, size)


def _period_index(labels: pd.Series) -> tuple[list[str], np.ndarray]:
    """Return the distinct period labels in order and each row's index into them.

    Hashed (`pandas.factorize`), then only the hundred-odd labels sorted: ``np.unique``
    sorted every row's label as text (a tenth of a second for a region's cells by week).
    """
    codes, uniques = pd.factorize(labels)
    uniques = np.asarray(uniques, dtype=str)
    order = np.argsort(uniques, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return [str(p) for p in uniques[order]], rank[codes]


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
                                      ext["lon_max"]),
                     regional_n=ext.get("regional_n", 0),
                     regional_total=ext.get("regional_total", 0))
    layer = spec.layer
    if agg.n == 0 or (layer != "choropleth" and agg.n == agg.regional_n):
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
            monthly: list[pd.DataFrame] = []

            def fetch(period: str):
                # Months, quarters and years come from one query (monthly cells with their
                # precision, relabelled in pandas), so stepping frames up costs no query.
                if period == "week":
                    fine = aggregate.grid(conn, dataset_id, filters, cell=cell, lat0=lat0,
                                          lon0=lon0, period="week")
                else:
                    if not monthly:
                        monthly.append(aggregate.grid(conn, dataset_id, filters, cell=cell,
                                                      lat0=lat0, lon0=lon0, period="month",
                                                      precision=True))
                    fine = aggregate.relabel(monthly[0], period)
                periods, pidx = _period_index(fine["period"])
                return fine.drop(columns=["period"]).assign(pidx=pidx), periods

            monthly_regional: list[pd.DataFrame] = []

            def count_regional(period: str) -> pd.DataFrame:
                if period == "week":
                    return aggregate.regional(conn, dataset_id, filters, "week")
                if not monthly_regional:
                    monthly_regional.append(aggregate.regional(
                        conn, dataset_id, filters, "month", precision=True))
                return aggregate.relabel(monthly_regional[0], period)

            first, last = aggregate.span(conn, dataset_id, filters)
            _finish_time(agg, fetch, first, last,
                         aggregate.by_precision(conn, dataset_id, filters), cell, lat0, lon0,
                         spec, count_regional if agg.regional_n else None)
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
    only), ``n``, ``total``, ``value`` (the total, or the total per 100 miles or 100 km of border, as
    ``spec.units`` says) and
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
        values = total / length * spec.words.rate_factor()  # per 100 miles or 100 km
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
            values = values * spec.words.rate_factor()  # per 100 miles or per 100 km
    hidden = is_hidden(n, min_count)
    agg.breaks = class_breaks(np.where(hidden, 0, values))
    agg.hidden = int(hidden.sum())
    agg.classes = pd.DataFrame({"code": keys, "n": n, "total": total, "value": values,
                                "hidden": hidden})
    if name is not None:
        agg.classes["name"] = name
