"""Spreadsheets (.xlsx, .xlsm, .xls, .ods) and compressed uploads, read as CSV text.

`compressed` opens the content of a gzip file (``.csv.gz``) or of a zip holding one file
(a CSV or a spreadsheet); the pipeline reads at most `MAX_EXPANDED_BYTES` of it.

A received file whose first bytes are a zip (Office Open XML, OpenDocument) or an OLE
compound file (old Excel) is opened with python-calamine. `sheets` lists the workbook's
sheets with their data rows; `to_csv` turns the chosen one
(default: the first holding a table) into UTF-8 CSV text that the CSV pipeline reads like
any upload:

- the header row is found below title lines (the first all-text row as wide as at least
  half of the widest row, with two cells or more); header text has its line breaks and runs
  of spaces made one space (``Fiscal\\nYear`` -> ``Fiscal Year``);
- notes below the table (trailing rows with at most one filled cell) are dropped;
- the CSV starts at the header; ``offset`` (the rows above it) turns a line of the CSV into
  the row of the sheet, which the pipeline adds to the report's and the preview's numbers;
  blank rows inside the table are blank lines, so they keep counting;
- dates stay dates (ISO text; midnight datetimes as the day), whole numbers are written
  without ``.0``, text is kept verbatim (``0104`` stays ``0104``), booleans as TRUE/FALSE.

Nothing here knows about incidents or the database; it never imports Flask.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import math
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from ..errors import BadRequest, Unprocessable

#: Leading bytes of a zip archive (.xlsx, .xlsm, .ods) and an OLE compound file (.xls).
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"
#: The file types the doors offer (the form's file picker).
EXTENSIONS = (".xlsx", ".xlsm", ".xls", ".ods")


GZIP_MAGIC = b"\x1f\x8b"
#: Members of a zip that make it a workbook (Office Open XML, OpenDocument).
WORKBOOK_PARTS = ("[Content_Types].xml", "mimetype")


def is_workbook(head: bytes) -> bool:
    """Whether a file's first bytes are those of a workbook container (zip or OLE)."""
    return head.startswith((ZIP_MAGIC, OLE_MAGIC))


def compressed(path: Path, head: bytes) -> IO[bytes] | None:
    """The content of a compressed upload as a stream, or None if it is not one.

    A gzip file (``.csv.gz``) gives its content; a zip that is not a workbook must hold one
    file (folders and ``__MACOSX/`` entries aside), a CSV or a spreadsheet, which it gives.
    The caller reads at most `MAX_EXPANDED_BYTES` of it; a read that fails is `damaged`.
    """
    if head.startswith(GZIP_MAGIC):
        return gzip.open(path, "rb")
    if not head.startswith(ZIP_MAGIC):
        return None
    try:
        archive = zipfile.ZipFile(path)
    except DAMAGED:
        return None  # not a readable zip: a workbook, or calamine says what is wrong
    names = [i.filename for i in archive.infolist()]
    if any(part in names for part in WORKBOOK_PARTS):
        archive.close()
        return None
    files = [i for i in archive.infolist()
             if not i.is_dir() and not i.filename.startswith("__MACOSX/")]
    if len(files) != 1:
        archive.close()
        raise Unprocessable(f"the zip archive holds {len(files)} files; it must hold one CSV "
                            "file or spreadsheet")
    return _ZipMember(archive, files[0])


class _ZipMember:
    """The one file of a zip as a stream; closing it closes the archive too."""

    def __init__(self, archive: zipfile.ZipFile, member: zipfile.ZipInfo):
        self.archive = archive
        try:
            self.file = archive.open(member)
        except DAMAGED as exc:
            archive.close()
            raise damaged(exc) from None

    def read(self, size: int = -1) -> bytes:
        return self.file.read(size)

    def __enter__(self) -> "_ZipMember":
        return self

    def __exit__(self, *exc) -> None:
        self.file.close()
        self.archive.close()


#: What reading a damaged compressed file raises.
DAMAGED = (OSError, EOFError, zlib.error, zipfile.BadZipFile, ValueError, RuntimeError,
           NotImplementedError)


def damaged(exc: BaseException) -> Unprocessable:
    reason = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
    return Unprocessable(f"the compressed file could not be decompressed ({reason})")


@dataclass
class Table:
    """One sheet's table: where its header is and the rows as CSV cells."""

    name: str
    header_row: int  # 1-based row of the header in the sheet (0: no data)
    rows: list[list[str]]  # the header first, then data rows (blank rows kept)
    data_rows: int  # non-blank rows below the header


#: A zip workbook whose parts would expand beyond this is refused before it is opened
#: (the sheets are read into memory; a small file can declare gigabytes of XML).
MAX_EXPANDED_BYTES = 512 * 2**20


def _check_expansion(path: Path) -> None:
    """Refuse a zip workbook whose parts declare more than `MAX_EXPANDED_BYTES` in all."""
    try:
        with zipfile.ZipFile(path) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # not a readable zip: calamine says so below
    if expanded > MAX_EXPANDED_BYTES:
        raise Unprocessable(f"the workbook expands to {expanded / 2**20:,.0f} MB, more than "
                            f"the {MAX_EXPANDED_BYTES / 2**20:g} MB that can be read; "
                            "save the sheet as CSV")


def _open(path: Path):
    from python_calamine import CalamineWorkbook  # imported on first use: a native module

    _check_expansion(path)
    try:
        return CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own errors for damaged files
        with open(path, "rb") as file:
            ole = file.read(4) == OLE_MAGIC
        kind = ("an old-style Excel (.xls) or Office file" if ole
                else "an Excel workbook (.xlsx) or another zip archive")
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise Unprocessable(f"this looks like {kind}, but it could not be read as a "
                            f"spreadsheet ({reason}): save it as .xlsx, .ods or CSV") from None


def _text(value) -> str:
    """A cell as CSV text: dates ISO, whole numbers without .0, text verbatim."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time() and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 2 ** 53:
            return str(int(value))
        return repr(value)
    return str(value)


def _header_text(value) -> str:
    return " ".join(_text(value).split())


def _filled(row: list) -> int:
    return sum(1 for v in row if v is not None and v != "")


def _table(name: str, raw: list[list]) -> Table:
    """Find the header row and the table's end in a sheet's rows."""
    rows = [list(r) for r in raw]
    widths = [_filled(r) for r in rows]
    if not rows or max(widths, default=0) == 0:
        return Table(name, 0, [], 0)
    widest = max(widths[:200])
    header = next((i for i, r in enumerate(rows[:200])
                   if widths[i] >= max(2, math.ceil(widest / 2))
                   and all(isinstance(v, str) for v in r if v != "")), None)
    if header is None:
        header = next(i for i, w in enumerate(widths) if w)
    end = len(rows)
    if widths[header] >= 2:
        while end > header + 1 and widths[end - 1] <= 1:
            end -= 1
    body = rows[header:end]
    width = max((max((j for j, v in enumerate(r) if v != ""), default=-1) + 1 for r in body),
                default=0)
    out = [[_header_text(v) for v in body[0][:width]]]
    out += [[_text(v) for v in r[:width]] for r in body[1:]]
    return Table(name, header + 1, out, sum(1 for w in widths[header + 1:end] if w))


def sheets(path: Path) -> list[dict]:
    """The workbook's sheets in order: ``{"name", "rows"}`` (data rows below the header)."""
    book = _open(path)
    return [{"name": t.name, "rows": t.data_rows} for t in _tables(book)]


def _tables(book) -> list[Table]:
    return [_table(name, book.get_sheet_by_name(name).to_python(skip_empty_area=False))
            for name in book.sheet_names]


def to_csv(path: Path, sheet: str | None) -> tuple[bytes, dict]:
    """Read one sheet of the workbook at `path` as UTF-8 CSV bytes.

    Returns the CSV and ``{"sheet", "header_row", "line_rows", "sheets": [{"name", "rows"}]}``
    (``line_rows``: the sheet row of each line of the CSV; see `sheet_rows`). An unknown
    `sheet` is a BadRequest listing the sheets with their row counts; a workbook without
    data is Unprocessable.
    """
    tables = _tables(_open(path))
    listing = [{"name": t.name, "rows": t.data_rows} for t in tables]
    described = ", ".join(f"{t['name']!r} ({t['rows']} rows)" for t in listing)
    if sheet:
        chosen = next((t for t in tables if t.name == sheet), None)
        if chosen is None:
            raise BadRequest(f"the workbook has no sheet {sheet!r}; its sheets are {described}",
                             details={"field": "sheet", "value": sheet, "sheets": listing})
    else:
        # The first sheet holding a table (a header of two cells or more and data), else
        # the first holding anything (its error then says what is missing).
        chosen = next((t for t in tables if t.data_rows and len(t.rows[0]) >= 2),
                      next((t for t in tables if t.rows), None))
        if chosen is None:
            raise Unprocessable("the workbook is empty: none of its sheets holds any cells")
    if not chosen.rows:
        raise Unprocessable(f"sheet {chosen.name!r} is empty; the workbook's sheets are "
                            f"{described}")
    parts: list[str] = []  # csv.writer writes each row in one call
    writer = csv.writer(_Appender(parts), lineterminator="\n")
    # line_rows[line] is the sheet row that CSV line belongs to: a cell holding line breaks
    # makes one record span several lines, so the rows below it are not line + offset.
    line_rows = [0]
    for row_number, row in enumerate(chosen.rows, start=chosen.header_row):
        if any(row):
            writer.writerow(row)
        else:  # a blank row stays a blank line (skipped, and the lines still count rows)
            parts.append("\n")
        line_rows += [row_number] * parts[-1].count("\n")
    return "".join(parts).encode("utf-8"), {
        "sheet": chosen.name, "header_row": chosen.header_row,
        "line_rows": np.asarray(line_rows, dtype=np.int64), "sheets": listing}


class _Appender:
    """A file-like sink for csv.writer that keeps each write (one per row) in a list."""

    def __init__(self, parts: list[str]):
        self.parts = parts

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)


def sheet_rows(sheet: dict, lines) -> np.ndarray:
    """The sheet rows of lines of the CSV `to_csv` made of it (``sheet``: its description)."""
    line_rows = sheet["line_rows"]
    return line_rows[np.clip(np.asarray(lines, dtype=np.int64), 0, len(line_rows) - 1)]
