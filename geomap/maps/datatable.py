"""The data table under an embed and its one-sentence summary (issue #21 item 4).

Counts by region and year for a selection: the regions a choropleth colours (state or
province, or Border Patrol sector; border segments are tabled by sector, see
`table_regions`), the years the selection covers. An embed is read in an article, often on a
phone, so the table is bounded whatever the data: the `MAX_REGIONS` regions with the largest
total count, the `MAX_YEARS` latest years, earlier years summed in one column. At most 10
rows of 7 figures fit a 375 px screen with the table scrolling inside itself, and stay a few
kilobytes of HTML. Every group follows the public small-count rule (`geomap.disclosure`): a
region with fewer incidents than the threshold is left out (as the stats API merges it into
``hidden``), a cell with fewer is shown as "fewer than" with no figure.

`DataTable` holds numbers only (codes, counts, flags), so one computation serves every
language: names, number formats and words are the caller's (`summary_sentence` takes
``gettext`` and a number formatter). No Flask here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .. import aggregate
from ..disclosure import is_hidden

#: Regions in the table at most (those with the largest total count).
MAX_REGIONS = 10
#: Years with a column of their own at most (the latest); earlier ones share one column.
MAX_YEARS = 5


@dataclass(frozen=True)
class Cell:
    """One count: incidents (``n``), their total count, and whether it is hidden."""

    n: int
    total: int
    hidden: bool


@dataclass
class Row:
    """A region's counts: per year column (then the earlier years), and in all."""

    key: str | None
    cells: list[Cell]
    earlier: Cell | None
    total: Cell


@dataclass
class DataTable:
    """Counts by region and year of a selection, bounded and with small counts hidden.

    ``years`` are the year columns, oldest first (every year from the first counted to the
    last, so a year of none shows 0); ``earlier`` says whether a column sums the years
    before them. ``rows`` are the shown regions, largest total first. ``regions`` counts
    every region with incidents, ``hidden_regions`` those left out under the threshold.
    ``leader`` is the region, year and total of the largest shown count in the latest year
    (None when there is none): what `summary_sentence` says.
    """

    by: str
    threshold: int
    years: list[str] = field(default_factory=list)
    earlier: bool = False
    rows: list[Row] = field(default_factory=list)
    regions: int = 0
    hidden_regions: int = 0
    leader: tuple[str, str, int] | None = None


def table_regions(by: str) -> str:
    """Return the column a table counts by for a map's ``by``.

    Border segments (about 170 stretches of ~25 miles) are tabled by sector, the unit their
    readers know; states/provinces and sectors as the map colours them.
    """
    return "sector" if by == "border_segment" else by


def data_table(conn, dataset_id: int, selection: dict | None, by: str, threshold: int, *,
               max_regions: int = MAX_REGIONS, max_years: int = MAX_YEARS) -> DataTable:
    """Count a selection by region and year (one GROUP BY, from the day rollup when it can).

    Parameters
    ----------
    conn : sqlalchemy.Connection
    dataset_id : int
    selection : dict or None
        The selection (`geomap.filters.selection`).
    by : {"admin1", "sector", "border_segment"}
        The map's regions (`table_regions`).
    threshold : int
        The public threshold (`geomap.disclosure.rendered_threshold`: the table is cached
        and served to every reader).
    max_regions, max_years : int
        The bounds of the table.

    Returns
    -------
    DataTable
        The year columns count records known at least by their year, which is every record,
        so a row's cells add up to its total; each figure is the stats API's for the same
        selection (``by=<column>`` for totals, ``by=year`` with the region for cells).
    """
    column = table_regions(by)
    frame = aggregate.by_column(conn, dataset_id, selection, column, period="year")
    out = DataTable(by=column, threshold=threshold)
    if frame.empty:
        return out
    per_region: dict[str | None, dict[str, tuple[int, int]]] = {}
    for key, year, n, total in zip(frame["key"], frame["period"], frame["n"], frame["total"]):
        key = key if isinstance(key, str) and key else None
        per_region.setdefault(key, {})[str(year)] = (int(n), int(total))
    counted = sorted({int(y) for y in frame["period"]})
    years = [str(y) for y in range(max(counted[0], counted[-1] - max_years + 1),
                                   counted[-1] + 1)]
    out.years, out.earlier = years, counted[0] < int(years[0])
    out.regions = len(per_region)
    rows = []
    for key, by_year in per_region.items():
        total = _cell(sum(v[0] for v in by_year.values()), sum(v[1] for v in by_year.values()),
                      threshold)
        if total.hidden:
            out.hidden_regions += 1
            continue
        earlier = [v for y, v in by_year.items() if int(y) < int(years[0])]
        rows.append(Row(key=key, cells=[_cell(*by_year.get(y, (0, 0)), threshold)
                                         for y in years],
                        earlier=_cell(sum(v[0] for v in earlier), sum(v[1] for v in earlier),
                                      threshold) if out.earlier else None,
                        total=total))
    # Largest first; the code breaks ties so the order never depends on the database.
    rows.sort(key=lambda r: (-r.total.total, r.key is None, r.key or ""))
    # The leader among every shown region (not only the rows kept), in the latest year.
    latest = [(r.cells[-1].total, r.key) for r in rows
              if r.key is not None and not r.cells[-1].hidden and r.cells[-1].total > 0]
    if latest:
        best_total = max(t for t, _k in latest)
        best_key = min(k for t, k in latest if t == best_total)
        out.leader = (best_key, years[-1], best_total)
    out.rows = rows[:max_regions]
    return out


def _cell(n: int, total: int, threshold: int) -> Cell:
    return Cell(n=n, total=total, hidden=bool(is_hidden(n, threshold)))


def summary_sentence(table: DataTable, names: dict[str, str], *,
                     gettext: Callable[..., str] = lambda text, **values: text % values,
                     number: Callable[[int], str] = "{:,}".format) -> str:
    """Say in one sentence where the most was counted: "Most crossings: Blaine sector,
    1,234 in 2025."

    Parameters
    ----------
    table : DataTable
    names : dict
        Region code -> the name a reader knows ("Washington", "Blaine sector").
    gettext : callable
        ``gettext(text, **values)`` translating and filling ``%(name)s`` placeholders
        (Flask-Babel's in a request; plain English by default).
    number : callable
        Formats a count for the reader's locale.
    """
    if table.leader is not None:
        key, year, total = table.leader
        return gettext("Most crossings: %(region)s, %(count)s in %(year)s.",
                       region=names.get(key, key), count=number(total), year=year)
    if table.hidden_regions and not table.rows:
        return gettext("Each region counts fewer than %(threshold)s incidents here: "
                       "figures are not shown.", threshold=number(table.threshold))
    if table.years:  # counted, yet none in the latest year's shown cells
        return gettext("No region has a published count in %(year)s.", year=table.years[-1])
    return gettext("No incidents match this selection.")
