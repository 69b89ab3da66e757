"""CSV structure checks: row widths against the header, runaway quotes, NUL characters.

`reading` streams a file with pyarrow; this module holds the rules that pyarrow does
not apply for us, so that a structural slip in a file is reported where it is instead of
silently changing what the rest of the file means:

- the header decides how many fields a row has (`read_width`, `check_width`, `recover`);
- a quoted field may not run on past `MAX_FIELD_LINES` lines, nor past `MAX_FIELD_CHARS`
  characters once it spans lines, nor to the end of the file (`check_runaway`, `scan`):
  a stray ``"`` otherwise swallows every following line into one cell;
- a cell may not hold U+0000, which PostgreSQL text cannot store (`nul_rows`).

It never imports Flask and knows nothing about incidents.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import Unprocessable

#: A quoted field spanning more lines than this is taken for a quote left open.
MAX_FIELD_LINES = 100
#: A field spanning lines and longer than this (characters) is taken for a quote left open.
#: Single-line cells have no such limit (a 1 MB description on one line is fine).
MAX_FIELD_CHARS = 10_000
NUL_MESSAGE = "a cell contains a NUL character (U+0000), which is not text; remove it"


def too_long_message(fields: int, width: int) -> str:
    """The reason given for a row with more non-empty fields than the header has columns."""
    return f"has {fields} fields; the header has {width}"


# --- widths -----------------------------------------------------------------------------------

def read_width(records: list[list[str]], width: int, header: bool) -> int:
    """Return how many fields to ask pyarrow for, given the sampled records and the width.

    The header's width is what a row must have, whatever is read. When most sampled data
    rows are wider (spreadsheet exports give every row the same empty trailing fields; a
    header can lack a name), the file is read that wide and each block's extra columns are
    checked and dropped by `check_width` (vectorised), instead of pyarrow refusing nearly
    every row into the slow, in-memory path of `recover`. A few wider rows (a stray comma)
    never change the width read: they take that path.
    """
    data = records[1:51] if header else records[:50]
    widths = Counter(len(r) for r in data)
    if not widths:
        return width
    common, n = widths.most_common(1)[0]
    return common if common > width and n * 2 > len(data) else width


def check_width(batch: pa.RecordBatch, width: int) -> np.ndarray | None:
    """Return which records of a block read wider than `width` have non-empty extra fields.

    None when every extra field is empty (the usual case).
    """
    if batch.num_columns <= width:
        return None
    bad = None
    for column in batch.columns[width:]:
        filled = pc.greater(pc.binary_length(pc.utf8_trim_whitespace(column)), 0)
        bad = filled if bad is None else pc.or_(bad, filled)
    if not pc.any(bad).as_py():
        return None
    return bad.to_numpy(zero_copy_only=False)


def recover(text: str, delimiter: str, width: int) -> list[str] | None:
    """Return the first `width` fields of a record pyarrow refused, if that is all it holds.

    A record with more fields than the header whose extra fields are all empty is a good row
    (the empty fields are dropped); any other refused record returns None and is an error.
    """
    try:
        fields = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
    except csv.Error:
        return None
    if len(fields) >= width and not any(f.strip() for f in fields[width:]):
        return fields[:width]
    return None


def block_errors(batch: pa.RecordBatch, width: int, delimiter: str, *,
                 nul: bool) -> pd.DataFrame | None:
    """Return a block's structural errors as (record, column, value, message), or None.

    Parameters
    ----------
    batch : pyarrow.RecordBatch
        A block as read, possibly wider than the header (`read_width`).
    width : int
        The header's width.
    delimiter : str
        Joins a too-long row's cells into the reported value.
    nul : bool
        Whether the file holds a NUL at all (only then are cells searched for U+0000).
    """
    parts = []
    wide = check_width(batch, width)
    if wide is not None:
        index = np.flatnonzero(wide)
        cells = [batch.column(i).take(pa.array(index)).to_pylist()
                 for i in range(batch.num_columns)]
        parts.append(pd.DataFrame({
            "record": index, "column": None,
            "value": [delimiter.join(row) for row in zip(*cells)],
            "message": too_long_message(batch.num_columns, width),
            "reason": "has more fields than the header"}))
    found = nul_rows(batch) if nul else None
    if found is not None:
        parts.append(pd.DataFrame({"record": np.flatnonzero(found), "column": None,
                                   "value": None, "message": NUL_MESSAGE}))
    return pd.concat(parts, ignore_index=True) if parts else None


# --- NUL characters ---------------------------------------------------------------------------

def nul_rows(batch: pa.RecordBatch) -> np.ndarray | None:
    """Return which records of a block hold U+0000 in any cell, or None if none does."""
    bad = None
    for column in batch.columns:
        found = pc.match_substring(column, "\x00")
        bad = found if bad is None else pc.or_(bad, found)
    if bad is None or not pc.any(bad).as_py():
        return None
    return bad.to_numpy(zero_copy_only=False)


# --- runaway quotes ---------------------------------------------------------------------------

@dataclass
class Runaway:
    """Where a quoted field ran away: the record's line, its column and the quote's line."""

    row: int
    column: int | None
    quote_line: int
    lines: int | None = None
    chars: int | None = None
    end_of_file: bool = False
    chars_at_least: bool = False  # `chars` is the csv module's field limit, not the length

    def message(self, columns: list[str]) -> str:
        column = (f", column {columns[self.column]!r}"
                  if self.column is not None and self.column < len(columns) else "")
        if self.end_of_file:
            what = "runs to the end of the file"
        elif self.lines is not None and self.lines > MAX_FIELD_LINES:
            what = f"runs over {self.lines:,} lines (more than {MAX_FIELD_LINES})"
        elif self.chars_at_least:
            what = f"runs over several lines and more than {self.chars:,} characters"
        else:
            what = (f"runs over several lines and {self.chars:,} characters (more than "
                    f"{MAX_FIELD_CHARS:,})")
        return (f"row {self.row}{column}: the quoted field opened on line {self.quote_line} "
                f"{what}; a closing quote (\") was expected. Check for a stray \" on line "
                f"{self.quote_line}, or double the quotes inside a quoted field (\"\")")


def check_runaway(batch: pa.RecordBatch) -> bool:
    """Return whether any cell of a block looks like a quote left open (see the limits).

    Vectorised: a column is only searched for newlines when one of its cells is longer than
    `MAX_FIELD_LINES` characters (a cell of N lines has at least N - 1), so ordinary blocks
    cost one length per cell.
    """
    for column in batch.columns:
        lengths = pc.binary_length(column)
        if not len(column) or pc.max(lengths).as_py() <= MAX_FIELD_LINES:
            continue
        newlines = pc.count_substring(column, "\n")
        runaway = pc.or_(pc.greater_equal(newlines, MAX_FIELD_LINES),
                         pc.and_(pc.greater(newlines, 0), pc.greater(lengths, MAX_FIELD_CHARS)))
        if pc.any(runaway).as_py():
            return True
    return False


def _field_runaway(record: list[str], start: int) -> Runaway | None:
    """The first field of a record past the limits, with the line its quote opened on."""
    line = start
    for index, value in enumerate(record):
        newlines = value.count("\n")
        if newlines and (newlines >= MAX_FIELD_LINES or len(value) > MAX_FIELD_CHARS):
            return Runaway(start, index, line, lines=newlines + 1, chars=len(value))
        line += newlines
    return None


def _ends_in_quote(lines: list[str], delimiter: str) -> int | None:
    """Return the index of the field a record's text leaves quoted at its end, else None."""
    try:
        for _record in csv.reader(lines, delimiter=delimiter, strict=True):
            pass
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            fields = next(csv.reader(lines, delimiter=delimiter), [])
            return max(len(fields) - 1, 0)
    return None


def last_line_ends_in_quote(path: Path, delimiter: str, first_line: int,
                            lines_total: int) -> Runaway | None:
    """Check the last record of a file whose every record is one line (the fast path).

    Only the last line can then hold a quote left open (elsewhere it would have swallowed
    a newline and the records would not be one per line). Lines longer than the tail read
    are not checked.
    """
    size = path.stat().st_size
    window = 8 * MAX_FIELD_CHARS
    with open(path, "rb") as handle:
        handle.seek(max(0, size - window))
        tail = handle.read()
    body = tail.rstrip(b"\r\n \t")
    if b'"' not in body.rsplit(b"\n", 1)[-1]:
        return None
    cut = body.rfind(b"\n")
    if cut < 0 and size > window:
        return None  # the last line is longer than the window: cannot tell where it starts
    line = body[cut + 1:].decode("utf-8", errors="replace")
    column = _ends_in_quote([line], delimiter)
    if column is None:
        return None
    last = max(lines_total, first_line)
    return Runaway(last, column, last, end_of_file=True)


class _Lines:
    """Iterate a file's lines, keeping those read since `take` (the current record's text)."""

    def __init__(self, handle):
        self._handle = handle
        self.held: list[str] = []

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = next(self._handle)
        self.held.append(line)
        return line

    def take(self) -> list[str]:
        held, self.held = self.held, []
        return held


def scan(path: Path, delimiter: str, header: bool, width: int, *,
         cells: bool = False) -> tuple[list[int], list[int]]:
    """Read a file with Python's csv module: each record's line, and any runaway quote.

    Parameters
    ----------
    path : Path
        The file, in UTF-8.
    delimiter : str
    header : bool
        Whether the first record is a header (not counted, still checked).
    width : int
        Fields of a good record (as pyarrow was asked to read).
    cells : bool
        Measure the fields of every record (the search run once a block was found to hold a
        runaway field); otherwise only records spanning lines are measured.

    Returns
    -------
    (good_lines, bad_lines) : tuple of list of int
        The first line of each record with `width` fields, and of each other record.

    Raises
    ------
    Unprocessable
        A quoted field spanning more than `MAX_FIELD_LINES` lines, or lines and more than
        `MAX_FIELD_CHARS` characters, or left open at the end of the file (the message names
        the row, the column and the line where the quote opened).
    """
    good: list[int] = []
    bad: list[int] = []
    start, first, record, raw = 1, header, None, []
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as handle:
        source = _Lines(handle)
        reader = csv.reader(source, delimiter=delimiter)
        try:
            for record in reader:
                this, start = start, reader.line_num + 1
                raw = source.take()
                if (cells or reader.line_num > this) and record:
                    runaway = _field_runaway(record, this)
                    if runaway is not None:
                        raise _Found(runaway)
                if first:
                    first = False
                    continue
                if record:
                    (good if len(record) == width else bad).append(this)
        except csv.Error as exc:
            runaway = (_beyond_field_limit(path, delimiter, start)
                       if "field larger than field limit" in str(exc) else None)
            if runaway is not None:
                raise _Found(runaway) from None
            # Anything else: keep what was found; the rest keeps its record positions.
        if raw and '"' in "".join(raw):
            column = _ends_in_quote(raw, delimiter)
            if column is not None:
                raise _Found(Runaway(start - (len(raw)), column,
                                     _quote_line(raw, delimiter, start - len(raw), column),
                                     end_of_file=True))
    return good, bad


def _beyond_field_limit(path: Path, delimiter: str, start: int) -> Runaway | None:
    """The runaway field of the record starting on line `start`, longer than csv's limit.

    The csv module stops without the record; its first line says which field it left
    open. None when that line opens no quote (a long unquoted cell, which is no runaway).
    """
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as handle:
        line = next(itertools.islice(handle, start - 1, None), "")
    column = _ends_in_quote([line], delimiter)
    if column is None:
        return None
    return Runaway(start, column, start, chars=csv.field_size_limit(), chars_at_least=True)


def _quote_line(raw: list[str], delimiter: str, start: int, column: int) -> int:
    fields = next(csv.reader(raw, delimiter=delimiter), [])
    return start + sum(f.count("\n") for f in fields[:column])


class _Found(Exception):
    """A runaway quote found by `scan` (turned into Unprocessable by `checked_scan`)."""

    def __init__(self, runaway: Runaway):
        super().__init__(runaway)
        self.runaway = runaway


def unplaced_runaway() -> Unprocessable:
    """The error when a block holds a runaway field the csv module could not place."""
    return Unprocessable(
        f"a quoted field runs over {MAX_FIELD_LINES} lines or more, or over several lines and "
        f"more than {MAX_FIELD_CHARS:,} characters; a closing quote (\") was expected. Check "
        "the file for a stray \", or double the quotes inside a quoted field (\"\")")


def checked_scan(path: Path, delimiter: str, header: bool, width: int, columns: list[str], *,
                 cells: bool = False) -> tuple[list[int], list[int]]:
    """`scan`, raising Unprocessable with a clear message for a runaway quote."""
    try:
        return scan(path, delimiter, header, width, cells=cells)
    except _Found as found:
        raise runaway_error(found.runaway, columns) from None


def runaway_error(runaway: Runaway, columns: list[str]) -> Unprocessable:
    """The error for a runaway quote: its message, and row, line and column as details."""
    return Unprocessable(runaway.message(columns),
                         details={"row": runaway.row, "line": runaway.quote_line,
                                  "column": (columns[runaway.column] if runaway.column
                                             is not None and runaway.column < len(columns)
                                             else None)})
