"""CSV output: the one rule for every CSV the service writes (downloads, rejected rows).

Cells that a spreadsheet would run as formulas are neutralised (`neutralise`,
`neutralise_frame`) and every line ends in CRLF (`LINE_END`), so `safe_csv` text opens as
data. Exports (`geomap.exporting`), the download views and the rejected-rows file of an
import (`geomap.ingest`) write through it. It never imports Flask.
"""

from __future__ import annotations

import io
import re

import pandas as pd

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: What a spreadsheet reads as a plain number: only these may start with + or - unchanged.
#: (``float`` and ``pd.to_numeric`` also take "inf", "nan" and "1_000", which are not.)
_PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$", re.ASCII)
#: Line ending of every CSV the service writes (RFC 4180). Python's csv module quotes a cell
#: holding any character of the line terminator: with "\n" alone a cell such as
#: "note\r@SUM(A1)" went out unquoted, and spreadsheets, which end a row at a bare CR too,
#: read "@SUM(A1)" as the first cell of a new row: a formula. With "\r\n" every cell holding
#: CR or LF is quoted, so each of its lines stays inside one cell.
LINE_END = "\r\n"


def neutralise(value):
    """Return a cell value safe to open in a spreadsheet.

    Parameters
    ----------
    value : object
        A cell (or header) value; anything but a str is returned as is.

    Returns
    -------
    object
        Text starting with ``= + - @``, a tab or a carriage return with a leading apostrophe
        so spreadsheets show it as text; plain numbers (``-122.75``, ``+1e3``) unchanged.
    """
    if not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    return value if _PLAIN_NUMBER.match(value) else "'" + value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Apply `neutralise` to every text column and to the column names (vectorised).

    Parameters
    ----------
    frame : pandas.DataFrame
        Cells to write; not modified.

    Returns
    -------
    pandas.DataFrame
        A copy whose text cells and column names cannot start a formula. Column names need it
        too: the rejected-rows file copies an upload's header row as it was.
    """
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if not (pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)):
            continue
        text = series.astype("str")
        risky = text.str.match(r"^[=+\-@\t\r]") & ~text.str.match(_PLAIN_NUMBER.pattern)
        if risky.any():
            out[column] = series.where(~risky.fillna(False), "'" + text)
    out.columns = [neutralise(c) for c in out.columns]
    return out


def safe_csv(frame: pd.DataFrame, *, header: bool = True) -> str:
    """Return a frame as CSV text that no spreadsheet runs as formulas.

    Parameters
    ----------
    frame : pandas.DataFrame
        The rows to write (the index is not written).
    header : bool
        Write the column names as the first row (False for the later pages of a stream).

    Returns
    -------
    str
        CSV with `LINE_END` line endings: every text cell and column name neutralised
        (`neutralise_frame`) and every cell holding a line break quoted, so no line of the
        output outside quotes starts a formula. Numbers stay numbers.
    """
    buffer = io.StringIO()
    neutralise_frame(frame).to_csv(buffer, index=False, header=header, lineterminator=LINE_END)
    return buffer.getvalue()
