"""Wide tables: one column per month (or quarter, or year), unpivoted into one record per cell.

Published counts often come as a table with a row per place and a column per period
(``Province, janv. 2024, févr. 2024, ...`` or ``Sector, Year, Oct, Nov, ...``). When the
caller says the table is wide (the form's box, ``import-csv --wide``, the API's ``?wide=1``)
`month_columns` finds the period columns by their headers and `unpivot` turns each block
into long rows with pandas' ``melt``: the period (the header) in `PERIOD_COLUMN`, the cell
in `VALUE_COLUMN` (the count), the other columns repeated. Each long row remembers the
block position of its source row, so errors name the file's line. No Flask, no I/O.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import periods

#: Names of the columns `unpivot` adds (not valid header names of a CSV: a leading NUL).
PERIOD_COLUMN = "\x00period"
VALUE_COLUMN = "\x00value"
#: Cells of a wide table that hold no count (empty, or the placeholders statistics offices
#: print for "not available" or "suppressed"): no record is made of them.
NO_VALUE = frozenset({"", "-", "–", "—", "..", "...", "x", "X", "n/a", "N/A", "na", "NA", "F"})
#: Headers of row totals, left out (a total of the month columns is not a record).
TOTALS = frozenset({"total", "totals", "total general", "grand total", "sum", "ytd"})


def month_columns(names: list[str], *, by_year_column: bool) -> dict[str, str]:
    """Return the period columns of a wide table: header -> what the header names.

    A header naming a whole period (``janv. 2024``, ``Jan 2024``, ``2024-01``, ``2024 Q1``,
    ``2024``) is a period column. With a year column in the table (`by_year_column`), a bare
    month name (``Jan``, ``janvier``, ``02 November``) is one too, read with that row's year.

    Returns
    -------
    dict
        header -> ``"period"`` (the header is the whole period) or ``"month"`` (the month of
        the row's year).
    """
    out: dict[str, str] = {}
    for name in names:
        if by_year_column and periods.month_number(name) is not None \
                and not str(name).strip().isdigit():
            out[name] = "month"
        elif periods.parse_period(name) is not None:
            out[name] = "period"
    if by_year_column:
        # A table by year and month: bare years among the headers are not periods.
        out = {k: v for k, v in out.items() if v == "month"} or out
    return out


def is_total(name: str) -> bool:
    """Say whether a header names a row total (``Total``, ``Grand total``, ``Total général``)."""
    return periods.fold(name) in TOTALS


def unpivot(frame: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, np.ndarray,
                                                               np.ndarray]:
    """Melt a block's period `columns` into long rows, dropping cells that hold no count.

    Returns
    -------
    (long, source, header)
        `long` has the other columns, `PERIOD_COLUMN` (the header) and `VALUE_COLUMN` (the
        cell), indexed 0..n-1; `source` is each long row's position in `frame`, `header` the
        period column it came from.
    """
    keep = [c for c in frame.columns if c not in columns]
    block = frame.reset_index(drop=True)
    block.insert(0, PERIOD_COLUMN + "row", np.arange(len(block)))
    long = block.melt(id_vars=[PERIOD_COLUMN + "row", *keep], value_vars=columns,
                      var_name=PERIOD_COLUMN, value_name=VALUE_COLUMN)
    cells = long[VALUE_COLUMN].astype("str").str.strip()
    long = long[~cells.isin(NO_VALUE).to_numpy()]
    # Row by row of the file, periods in the order of the columns (melt goes column first).
    long = long.sort_values(PERIOD_COLUMN + "row", kind="stable").reset_index(drop=True)
    source = long.pop(PERIOD_COLUMN + "row").to_numpy(dtype=np.int64)
    long[PERIOD_COLUMN] = long[PERIOD_COLUMN].astype(object)
    long[VALUE_COLUMN] = long[VALUE_COLUMN].astype("str").str.strip()
    return long, source, long[PERIOD_COLUMN].to_numpy(dtype=object)
