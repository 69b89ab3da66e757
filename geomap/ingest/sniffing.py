"""Sniffing a received file's first bytes: binary refusals, encoding, delimiter, columns.

`sniff` decides the `Layout` every later pass reads the file with (encoding, delimiter,
column names, header or not, how many fields pyarrow reads per record). It never imports
Flask and knows nothing about incidents.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections import Counter
from dataclasses import dataclass, field

from . import structure
from .receiving import SNIFF_BYTES
from ..errors import Unprocessable

DELIMITERS = ",;\t|"
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}

#: Leading bytes of files people upload by mistake, and what to tell them.
#: Workbooks and zip archives never get here: the pipeline reads them first
#: (`spreadsheets.compressed`, `spreadsheets.to_csv`), which also refuses damaged ones.
MAGIC = (
    (b"\x00\x00\x27\x0a", "a shapefile (.shp), not a CSV file: export its attribute table "
                          "with coordinates as CSV"),
    (b"%PDF", "a PDF document, not a CSV file"),
    (b"\x1f\x8b", "a gzip-compressed file: decompress it first"),
    (b"SQLite format 3\x00", "an SQLite database, not a CSV file"),
    (b"\x89PNG", "a PNG image, not a CSV file"),
    (b"\xff\xd8\xff", "a JPEG image, not a CSV file"),
)


# --- sniffing ---------------------------------------------------------------------------------

@dataclass
class Layout:
    """How to read a file: encoding, delimiter, column names and whether a header row exists."""

    encoding: str
    delimiter: str
    columns: list[str]
    header: bool
    notes: list[str] = field(default_factory=list)
    sample: list[list[str]] = field(default_factory=list)
    sample_lines: list[int] = field(default_factory=list)  # line in the file of each record
    read_width: int = 0  # fields pyarrow reads per record (see structure.read_width); 0: columns


def refuse_binary(head: bytes, size: int) -> None:
    """Raise Unprocessable with a one-line reason for empty, binary and non-CSV files."""
    if size == 0 or not head.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise Unprocessable("the file is empty")
    for magic, what in MAGIC:
        if head.startswith(magic):
            raise Unprocessable(f"this looks like {what}")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return
    # A stray NUL or two in text is a cell's problem (its row is rejected, see
    # structure.nul_rows); many are a binary file.
    if head.count(b"\x00") > max(2, len(head) // 1000):
        raise Unprocessable("this is a binary file, not CSV text (it contains NUL bytes)")
    controls = sum(head.count(bytes([c])) for c in range(32) if c not in (9, 10, 13))
    if controls > max(8, len(head) // 100):
        raise Unprocessable("this is a binary file, not CSV text (it contains control bytes)")


def detect_encoding(head: bytes, utf8: bool) -> str:
    """Return the Python codec for a file: UTF-8 (BOM or not), UTF-16 with BOM, else cp1252."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return "utf-8" if utf8 else "cp1252"


def _head_text(head: bytes, encoding: str) -> str:
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    return decoder.decode(head, final=False)


def sniff(head: bytes, encoding: str, *, header: bool = True) -> Layout:
    """Work out the delimiter and the column names from the first bytes of a file.

    Parameters
    ----------
    head : bytes
        The first `SNIFF_BYTES` of the file.
    encoding : str
        As returned by `detect_encoding`.
    header : bool
        False for a file without a header row (columns are then named ``Column 1`` …, as
        are header cells left empty).

    Returns
    -------
    Layout
    """
    text = _head_text(head, encoding)
    lines = text.splitlines(keepends=True)
    # The last line of a 64 KB sample may be cut short; sniff whole lines only.
    complete = "".join(lines[:-1] if len(lines) > 1 and len(head) >= SNIFF_BYTES else lines)
    delimiter = _sniff_delimiter(complete)
    records, starts = [], []
    try:
        reader = csv.reader(io.StringIO(complete, newline=""), delimiter=delimiter)
        previous = 0
        for record in reader:
            # Blank lines give no record; a quoted field can span lines, so a record's line
            # is the one after where the previous one ended (the report counts the same way).
            if record:
                records.append(record)
                starts.append(previous + 1)
            previous = reader.line_num
    except csv.Error as exc:
        raise Unprocessable(f"the file could not be read as CSV: {exc}") from None
    if not records:
        raise Unprocessable("the file is empty")
    # The header decides how many fields a row has: a longer row is that row's error (or
    # fine, if its extra fields are empty), never a reason to widen every other row. Without
    # a header, the most common width of the first records stands in for it.
    if header:
        width = len(records[0])
    else:
        widths = Counter(len(r) for r in records[:50])
        width = max(w for w, n in widths.items() if n == max(widths.values()))
    first = 1 if header else 0
    names = [n.replace("\x00", "").strip() for n in records[0]] if header else []
    sample, sample_lines = records[first:first + 10], starts[first:first + 10]
    while len(names) < width:
        names.append("")
    notes = []
    names = _unique_names(names)
    return Layout(encoding=encoding, delimiter=delimiter, columns=names, header=header,
                  notes=notes, sample=sample, sample_lines=sample_lines,
                  read_width=structure.read_width(records, width, header))


def _sniff_delimiter(text: str) -> str:
    """Pick the delimiter: csv.Sniffer first, else the most frequent consistent candidate."""
    lines = [ln for ln in text.splitlines()[:30] if ln.strip()]
    if not lines:
        return ","
    try:
        found = csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        found = None
    counts = {d: [ln.count(d) for ln in lines] for d in DELIMITERS}
    if found and counts[found][0] > 0:
        return found
    best = max(DELIMITERS, key=lambda d: (min(counts[d]) > 0, counts[d][0]))
    return best if counts[best][0] > 0 else ","


def _unique_names(names: list[str]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for index, name in enumerate(names, start=1):
        name = name.strip() or f"Column {index}"
        candidate, n = name, 2
        while candidate.lower() in seen:
            candidate, n = f"{name}_{n}", n + 1
        seen.add(candidate.lower())
        out.append(candidate)
    return out

