"""SQL aggregation for maps and stats: GROUP BY over grid cells, regions, periods, border segments.

Every query takes a SQLAlchemy connection, a dataset id and the normalised filters of
`geomap.filters` and returns a small pandas frame, so a map of a million incidents never loads
a million rows. Grid cells are aligned to multiples of the cell size (stable across filters).
Border segments are the stored ``border_segments`` layer, binned exactly by `segment_steps`
(the same bins in SQL and, for an incident DataFrame, in numpy). The SQL works on SQLite and
PostgreSQL.

Callers use ``from geomap import aggregate`` and the names below; the modules hold them by
subject, and import one way (each only from those listed after it):

- `extent`: a selection's count, total and bounds (`extent`), or a whole dataset's from its
  grid rollup (`rollup_extent`)
- `grid`: grid cells on `binning`'s grid from the incidents (`grid`, optionally per period
  and precision; `relabel` turns monthly cells into quarters or years) or the grid rollup
  (`grid_from_rollup`)
- `periods`: week/month/quarter/year labels in SQL and pandas (`PERIOD_FORMATS`,
  `period_expr`, `period_labels`), counts per column value or period (`by_column`,
  `by_period`, of the records each period admits: `ADMITTED`), per date precision
  (`by_precision`, `coarser`) and a selection's first and last day (`span`), from the day
  rollup when it can answer; per period, the records known only by region (`regional`)
- `segments`: border segments as a step function of border mile (`SegmentSteps`,
  `segment_steps`, `segment_rows`) and counts per segment (`by_border_segment` in SQL,
  `by_border_segment_frame` for a DataFrame)
- `points`: incidents for cluster markers
- `selection`: the WHERE conditions of a selection, `unfiltered`, query results as frames

Nothing here imports Flask; of geomap, only `binning`, `db` and `store`.
"""

from .selection import unfiltered
from .points import points
from .segments import (SEGMENT_SLACK_MILES, SegmentSteps, by_border_segment,
                       by_border_segment_frame, segment_rows, segment_steps)
from .periods import (ADMITTED, PERIOD_FORMATS, PERIODS, by_column, by_period, by_precision,
                      coarser, period_labels, regional, span)
from .grid import grid, grid_from_rollup, relabel
from .extent import extent, rollup_extent

__all__ = [
    "unfiltered",
    "points",
    "SEGMENT_SLACK_MILES", "SegmentSteps", "by_border_segment", "by_border_segment_frame",
    "segment_rows", "segment_steps",
    "ADMITTED", "PERIOD_FORMATS", "PERIODS", "by_column", "by_period", "by_precision",
    "coarser", "period_labels", "regional", "span",
    "grid", "grid_from_rollup", "relabel",
    "extent", "rollup_extent",
]
