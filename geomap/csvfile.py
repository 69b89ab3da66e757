"""CSV files: receiving, sniffing, decoding and streaming, plus vectorised cell parsers.

This module knows about bytes, encodings, delimiters, line numbers and the text of cells; it
knows nothing about incidents, datasets or the database (that is `geomap.ingest`). It never
imports Flask.

The file is read twice at most: once while it is copied into the upload folder (hashing it,
checking that it is UTF-8 and counting its lines) and once by pyarrow's streaming CSV reader,
in blocks, so memory stays bounded whatever the file size. A third pass, with Python's `csv`
module, runs only when line numbers cannot be derived from the record index (quoted newlines,
blank lines or malformed rows).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from . import csvcheck
from .errors import BadRequest, TooLarge, Unprocessable

COPY_CHUNK = 1 << 20
SNIFF_BYTES = 64 * 1024
BLOCK_SIZE = 8 << 20
DELIMITERS = ",;\t|"
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
# pyarrow reads fields of any length, but Python's csv module (line numbers of irregular
# files, the rejected-rows file) raised past its default 128 KiB per field: a long cell in a
# malformed record gave a 500. Uploads are bounded by MAX_UPLOAD_MB; this only raises a limit.
csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))

#: Leading bytes of files people upload by mistake, and what to tell them.
MAGIC = (
    (b"PK\x03\x04", "an Excel workbook (.xlsx) or another zip archive, not a CSV file: "
                    "open it in a spreadsheet and save it as CSV"),
    (b"\xd0\xcf\x11\xe0", "an old-style Excel (.xls) or Office file, not a CSV file: "
                          "save it as CSV"),
    (b"\x00\x00\x27\x0a", "a shapefile (.shp), not a CSV file: export its attribute table "
                          "with coordinates as CSV"),
    (b"%PDF", "a PDF document, not a CSV file"),
    (b"\x1f\x8b", "a gzip-compressed file: decompress it first"),
    (b"SQLite format 3\x00", "an SQLite database, not a CSV file"),
    (b"\x89PNG", "a PNG image, not a CSV file"),
    (b"\xff\xd8\xff", "a JPEG image, not a CSV file"),
)


# --- receiving --------------------------------------------------------------------------------

@dataclass
class Received:
    """An uploaded file copied into the upload folder, with what the copy pass learned."""

    path: Path
    sha256: str
    size: int
    head: bytes
    utf8: bool
    newlines: int
    last_byte: bytes
    nul: bool = False  # a NUL byte anywhere (UTF-8 and cp1252 files: a U+0000 character)


def receive(source: str | os.PathLike | IO[bytes], folder: str | os.PathLike, *,
            max_bytes: int | None = None) -> Received:
    """Copy a file or binary stream into `folder` under a temporary name, in chunks.

    Parameters
    ----------
    source : path or binary file object
        The uploaded file. A path is opened and read; a stream is read from its position.
    folder : path
        The upload folder (created if missing).
    max_bytes : int, optional
        Refuse files larger than this with `TooLarge` (the web already enforces the limit;
        this covers streams of unknown length).

    Returns
    -------
    Received
        The temporary path, sha256, size, first bytes, whether the whole file is valid UTF-8
        and how many newline bytes it holds.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"tmp-{uuid.uuid4().hex}.part"
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8, size, newlines, head, last, pending, nul = True, 0, 0, b"", b"", False, False
    if hasattr(source, "read"):
        stream, opened = source, None
    else:
        try:
            stream = opened = open(source, "rb")
        except OSError as exc:
            raise BadRequest(f"cannot read {source}: {exc.strerror}") from None
    try:
        with open(tmp, "wb") as out:
            while True:
                chunk = stream.read(COPY_CHUNK)
                if not chunk:
                    break
                if isinstance(chunk, str):
                    chunk = chunk.encode("utf-8")
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise TooLarge(f"the file is larger than the {max_bytes / 2**20:g} MB limit")
                digest.update(chunk)
                if len(head) < SNIFF_BYTES:
                    head += chunk[:SNIFF_BYTES - len(head)]
                # ASCII is valid UTF-8 (checked ~20x faster than decoded), unless a multibyte
                # character of the previous chunk is still waiting for its last bytes.
                if utf8 and (pending or not chunk.isascii()):
                    try:
                        decoder.decode(chunk)
                    except UnicodeDecodeError:
                        utf8 = False
                    pending = bool(decoder.getstate()[0])
                newlines += chunk.count(b"\n")
                nul = nul or b"\x00" in chunk
                last = chunk[-1:]
                out.write(chunk)
            if utf8:
                try:
                    decoder.decode(b"", final=True)
                except UnicodeDecodeError:
                    utf8 = False
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if opened is not None:
            opened.close()
    return Received(tmp, digest.hexdigest(), size, head, utf8, newlines, last, nul)


def keep(received: Received) -> Path:
    """Move a received file to its permanent, content-addressed name `<sha256>.csv`."""
    final = received.path.parent / f"{received.sha256}.csv"
    os.replace(received.path, final)
    received.path = final
    return final


def discard(received: Received) -> None:
    """Delete a received file that will not be kept."""
    if received.path.name.startswith("tmp-"):
        received.path.unlink(missing_ok=True)


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
    read_width: int = 0  # fields pyarrow reads per record (see csvcheck.read_width); 0: columns


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
    # csvcheck.nul_rows); many are a binary file.
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
        False for a file without a header row (columns are then named ``column_1`` …).

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
                  read_width=csvcheck.read_width(records, width, header))


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
        name = name.strip() or f"column_{index}"
        candidate, n = name, 2
        while candidate.lower() in seen:
            candidate, n = f"{name}_{n}", n + 1
        seen.add(candidate.lower())
        out.append(candidate)
    return out


# --- streaming --------------------------------------------------------------------------------

@dataclass
class Batch:
    """A block of records: every column as strings, and each record's 1-based line number.

    ``lines`` are provisional (one physical line per record, see `Reader`). ``errors`` holds the block's structural errors found while reading (record, column,
    value, message): rows with non-empty fields beyond the header, cells holding U+0000.
    """

    frame: pd.DataFrame
    lines: np.ndarray
    errors: pd.DataFrame | None = None


@dataclass
class BadRecord:
    """A record pyarrow could not split into the expected number of fields."""

    line: int | None
    fields: int
    text: str


class Reader:
    """Stream a received file as `Batch` objects.

    Iterating yields batches whose ``lines`` assume one physical line per record (header
    included). After iteration, `exact` says whether that held; when it did not (quoted
    newlines, blank lines, malformed records), `remap()` gives the real line numbers and the
    positions of the malformed records, which pyarrow reports without line numbers.

    The header decides a record's width. Records pyarrow refused for having more fields whose
    extra fields are all empty are good rows: they come last, in one batch with real line
    numbers. A quoted field left open (see `geomap.csvcheck`) stops the read with
    Unprocessable naming where the quote opened.
    """

    def __init__(self, received: Received, layout: Layout, *, block_size: int | None = None):
        self.received = received
        self.layout = layout
        self.block_size = block_size or BLOCK_SIZE
        self.width = len(layout.columns)
        self.read_width = max(layout.read_width, self.width)
        self.exact = True
        self.records = 0
        self.bad_texts: list[tuple[int, str]] = []
        self._transcoded: Path | None = None
        self._path: Path | None = None
        self._nul = received.nul
        self._remapped: tuple[np.ndarray, list[BadRecord]] | None = None
        self._recovered: set[int] = set()

    def __iter__(self) -> Iterator[Batch]:
        path, newlines, last = self._utf8_path()
        self._path = path
        header_lines = 1 if self.layout.header else 0

        def on_invalid(row) -> str:
            self.bad_texts.append((row.actual_columns, row.text or ""))
            return "skip"

        # Columns read beyond the header (see csvcheck.read_width) get names no header name
        # can have (those are stripped), so they never collide with one.
        names = self.layout.columns + [f" extra {i}" for i in
                                       range(1, self.read_width - self.width + 1)]
        reader = self._open(path, names, on_invalid)
        good = 0
        try:
            for record_batch in reader:
                if csvcheck.check_runaway(record_batch):
                    self._locate_runaway()
                    raise csvcheck.unplaced_runaway()  # the csv module saw it differently
                n = record_batch.num_rows
                lines = np.arange(good, good + n, dtype=np.int64) + header_lines + 1
                good += n
                errors = self._block_errors(record_batch)
                frame = record_batch.select(range(self.width)).to_pandas()
                yield Batch(frame, lines, errors=errors)
        except pa.ArrowInvalid as exc:
            if "straddling" in str(exc) or "block size" in str(exc):
                self._locate_runaway()
            raise Unprocessable(_arrow_reason(exc)) from None
        self.records = good
        lines_total = newlines + (0 if last in (b"\n", b"") else 1)
        lines_total -= self._trailing_blank_lines(path)
        self.exact = lines_total == good + header_lines and not self.bad_texts
        if self.exact:
            runaway = csvcheck.last_line_ends_in_quote(path, self.layout.delimiter,
                                                       header_lines + 1, lines_total)
            if runaway is not None:
                raise csvcheck.runaway_error(runaway, self.layout.columns)
        else:
            self.remap()  # also checks every multi-line record for a quote left open
        recovered = self._recover()
        if recovered is not None:
            yield recovered

    def _block_errors(self, batch: pa.RecordBatch) -> pd.DataFrame | None:
        return csvcheck.block_errors(batch, self.width, self.layout.delimiter, nul=self._nul)

    def _recover(self) -> Batch | None:
        """The refused records that are good rows (only empty fields beyond the header).

        They get the provisional lines after the last good record's, and `remap` maps those
        to their real lines, so the rest of the pipeline treats them as any other block.
        """
        rows, keep = [], []
        for index, (_fields, text) in enumerate(self.bad_texts):
            fields = csvcheck.recover(text, self.layout.delimiter, self.width)
            if fields is not None:
                rows.append(fields)
                keep.append(index)
        if not rows:
            return None
        lines, bad = self.remap()
        real = np.asarray([bad[i].line if bad[i].line is not None else 0 for i in keep],
                          dtype=np.int64)
        self._remapped = np.concatenate([lines, real]), bad
        self._recovered = set(keep)
        header_lines = 1 if self.layout.header else 0
        provisional = np.arange(self.records, self.records + len(rows),
                                dtype=np.int64) + header_lines + 1
        self.records += len(rows)
        table = pa.RecordBatch.from_pandas(
            pd.DataFrame(rows, columns=self.layout.columns, dtype=object), preserve_index=False)
        return Batch(table.to_pandas(), provisional, errors=self._block_errors(table))

    def _locate_runaway(self) -> None:
        """Find the record holding a runaway quote with the csv module and raise for it.

        Returns if the csv module finds none (the caller decides what to say then).
        """
        csvcheck.checked_scan(self._path, self.layout.delimiter, self.layout.header,
                              self.read_width, self.layout.columns, cells=True)

    def remap(self) -> tuple[np.ndarray, list[BadRecord]]:
        """Return the real line number of every good record, and the malformed records.

        Re-reads the file with Python's csv module (once; the result is kept), which tracks
        physical lines through quoted newlines and skips blank lines as pyarrow does, and
        raises Unprocessable for a quoted field left open.
        """
        if self._remapped is not None:
            return self._remapped
        good_lines, bad_lines = csvcheck.checked_scan(
            self._path, self.layout.delimiter, self.layout.header, self.read_width,
            self.layout.columns)
        bad = [BadRecord(bad_lines[i] if i < len(bad_lines) else None, fields, text)
               for i, (fields, text) in enumerate(self.bad_texts)]
        lines = np.asarray(good_lines[:self.records], dtype=np.int64)
        if len(lines) < self.records:  # the two parsers disagreed: keep record positions
            extra = np.arange(len(lines), self.records, dtype=np.int64) + 2
            lines = np.concatenate([lines, extra])
        self._remapped = lines, bad
        return self._remapped

    def malformed(self) -> list[BadRecord]:
        """The refused records that are errors (not recovered as good rows)."""
        if not self.bad_texts:
            return []
        _lines, bad = self.remap()
        return [b for i, b in enumerate(bad) if i not in self._recovered]

    def close(self) -> None:
        """Delete the temporary UTF-8 copy of a non-UTF-8 file, if one was made."""
        if self._transcoded is not None:
            self._transcoded.unlink(missing_ok=True)
            self._transcoded = None

    def _utf8_path(self) -> tuple[Path, int, bytes]:
        """Return a UTF-8 version of the file (transcoding cp1252/UTF-16 into a temp file)."""
        enc = self.layout.encoding
        self._nul = enc not in ("utf-16",) and self.received.nul
        if enc in ("utf-8", "utf-8-sig"):
            return self.received.path, self.received.newlines, self.received.last_byte
        target = self.received.path.with_name(f"tmp-{uuid.uuid4().hex}.utf8")
        newlines, last = 0, b""
        with open(self.received.path, encoding=enc, errors="replace", newline="") as src, \
                open(target, "w", encoding="utf-8", newline="") as dst:
            while True:
                chunk = src.read(COPY_CHUNK)
                if not chunk:
                    break
                newlines += chunk.count("\n")
                self._nul = self._nul or "\x00" in chunk
                last = chunk[-1:].encode()
                dst.write(chunk)
        self._transcoded = target
        return target, newlines, last

    def _open(self, path: Path, names: list[str], on_invalid):
        read = pacsv.ReadOptions(block_size=self.block_size, column_names=names,
                                 skip_rows=1 if self.layout.header else 0)
        parse = pacsv.ParseOptions(delimiter=self.layout.delimiter, newlines_in_values=True,
                                   invalid_row_handler=on_invalid)
        convert = pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                       strings_can_be_null=False, quoted_strings_can_be_null=False)
        try:
            return pacsv.open_csv(str(path), read_options=read, parse_options=parse,
                                  convert_options=convert)
        except pa.ArrowInvalid as exc:
            if "straddling" in str(exc) or "block size" in str(exc):
                self._locate_runaway()  # a quote left open is the usual cause: say where
            raise Unprocessable(_arrow_reason(exc)) from None
        except StopIteration:
            raise Unprocessable("the file has a header but no rows") from None

    @staticmethod
    def _trailing_blank_lines(path: Path) -> int:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            handle.seek(max(0, size - 4096))
            tail = handle.read()
        stripped = tail.rstrip(b"\r\n \t")
        return tail[len(stripped):].count(b"\n") - (1 if tail.endswith(b"\n") else 0)


def _arrow_reason(exc: Exception) -> str:
    text = str(exc).splitlines()[0]
    if "straddling" in text or "block size" in text:
        return (f"a line is longer than {BLOCK_SIZE // 2**20} MB; this does not look like "
                "a CSV file of incidents")
    if "UTF8" in text or "utf8" in text.lower():
        return "the file is not valid text in a supported encoding (UTF-8, UTF-16, cp1252)"
    return f"the file could not be read as CSV: {text}"


# --- cell parsers (vectorised) ----------------------------------------------------------------

_NUMBER_COMMA = re.compile(r"^\s*-?\d+,\d+\s*$")
#: Longest cell (bytes) the Arrow fast path of `to_float` reads: at most 15 digits, which
#: pandas' parser reads exactly (see `_plain_decimals`).
PLAIN_DECIMAL_BYTES = 16
#: Days of the years the Arrow fast path of `parse_dates` reads (1678..2261, the span of
#: nanosecond timestamps, where no unit or bounds question can arise); other years take the
#: general path.
_ISO_DAY_RANGE = (np.datetime64("1678-01-01", "D").astype(np.int64),
                  np.datetime64("2261-12-31", "D").astype(np.int64))


def arrow_text(values: pd.Series) -> pa.Array | None:
    """Return a column of text as one Arrow string array, or None if it is not all text.

    pandas' Arrow-backed ``str`` columns (what `Reader` yields) convert without a copy.
    """
    try:
        array = pa.array(values, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):
        return None
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if array.null_count or not (pa.types.is_string(array.type)
                                or pa.types.is_large_string(array.type)):
        return None
    return array


def _plain_decimals(values: pd.Series) -> np.ndarray | None:
    """Parse a column whose every cell is a plain decimal with Arrow, else return None.

    The fast path of `to_float`, taken only where its result is provably the general path's:
    cells of at most 15 digits, which pandas' parser accumulates exactly as an integer and
    scales by one exact power of ten (at most 10**22 for values from 1e-7 to 1e7), so the
    result is correctly rounded, as Arrow's is; and no negative zero (pandas reads ``-0`` as
    an integer, 0.0). Anything else (spaces, decimal commas, long digit strings, values
    beyond that range, empty cells, ``nan``/``inf``) sends the whole column down the general
    path, so results never depend on which path ran.
    """
    array = arrow_text(values)
    if array is None or not len(array):
        return None
    lengths = pc.binary_length(array)
    longest = pc.max(lengths).as_py()
    if longest > PLAIN_DECIMAL_BYTES:
        return None
    if longest == PLAIN_DECIMAL_BYTES and not pc.all(pc.or_(
            pc.less(lengths, PLAIN_DECIMAL_BYTES),
            pc.match_substring(array, "."))).as_py():
        return None  # a 16-digit integer: pandas reads it another way
    try:
        out = pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        return None
    size = np.abs(out)
    if not (((size >= 1e-7) & (size < 1e7)) | ((out == 0) & ~np.signbit(out))).all():
        return None  # also NaN and infinities
    return np.array(out, dtype=float)  # writable: callers swap and fill in place


def to_float(values: pd.Series) -> np.ndarray:
    """Parse numbers (decimal point, or a lone decimal comma) to float; NaN where invalid."""
    plain = _plain_decimals(values)
    return plain if plain is not None else _general_float(values)


def _general_float(values: pd.Series) -> np.ndarray:
    """Parse any column of numbers with pandas (`to_float` without its fast path)."""
    numbers = pd.to_numeric(values, errors="coerce")
    out = np.array(numbers.to_numpy(dtype=float, na_value=np.nan), dtype=float)
    failed = np.flatnonzero(np.isnan(out))
    if len(failed):
        # Slow path for what the vectorised parse could not read: spaces, decimal commas.
        text = values.iloc[failed].astype("str").str.strip()
        comma = text.str.match(_NUMBER_COMMA.pattern).to_numpy(dtype=bool)
        text = text.where(~comma, text.str.replace(",", ".", regex=False))
        retry = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        out[failed] = retry
    return out


_NUM = r"[-+]?\d+(?:\.\d+)?"
_WKT = re.compile(rf"^\s*POINT\s*Z?\s*\(\s*({_NUM})\s+({_NUM})(?:\s+{_NUM})?\s*\)\s*$",
                  re.IGNORECASE)
_PAIR = re.compile(rf"^\s*[\(\[]?\s*({_NUM})\s*[,; ]\s*({_NUM})\s*[\)\]]?\s*$")
_DMS_PART = (r"(\d{1,3})\s*(?:°|º|d|\s)\s*(?:(\d{1,2}(?:\.\d+)?)\s*(?:'|′|m|\s)\s*)?"
             r"(?:(\d{1,2}(?:\.\d+)?)\s*(?:\"|″|''|s)?\s*)?([NSEWnsew])")
_DMS = re.compile(rf"^\s*{_DMS_PART}\s*[, ]?\s*{_DMS_PART}\s*$")


def parse_location(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Parse a location column: WKT ``POINT (lon lat)``, ``"lat, lon"`` or DMS pairs.

    Returns
    -------
    (lon, lat) : tuple of numpy.ndarray
        NaN where the value is none of the accepted forms.
    """
    text = values.astype("str")
    lon = np.full(len(text), np.nan)
    lat = np.full(len(text), np.nan)
    wkt = text.str.extract(_WKT)
    ok = wkt[0].notna().to_numpy()
    lon[ok] = wkt[0][ok].astype(float)
    lat[ok] = wkt[1][ok].astype(float)
    rest = ~ok
    if rest.any():
        pair = text[rest].str.extract(_PAIR)
        hit = pair[0].notna().to_numpy()
        idx = np.flatnonzero(rest)[hit]
        lat[idx] = pair[0][hit].astype(float)
        lon[idx] = pair[1][hit].astype(float)
        rest[idx] = False
    if rest.any():
        dms = text[rest].str.extract(_DMS)
        hit = dms[0].notna().to_numpy()
        if hit.any():
            idx = np.flatnonzero(rest)[hit]
            part = dms[hit]
            a = _dms_value(part[0], part[1], part[2], part[3])
            b = _dms_value(part[4], part[5], part[6], part[7])
            first_is_lat = part[3].str.upper().isin(["N", "S"]).to_numpy()
            lat[idx] = np.where(first_is_lat, a, b)
            lon[idx] = np.where(first_is_lat, b, a)
    return lon, lat


def _dms_value(deg, minutes, seconds, hemi) -> np.ndarray:
    value = (deg.astype(float) + minutes.fillna("0").astype(float) / 60
             + seconds.fillna("0").astype(float) / 3600).to_numpy()
    sign = np.where(hemi.str.upper().isin(["S", "W"]).to_numpy(), -1.0, 1.0)
    return value * sign


# Dates ----------------------------------------------------------------------------------------

MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_SLASH = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4}|\d{2})"
                    r"(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([AaPp])\.?[Mm]\.?)?)?\s*$")
_MONTH_NAME = re.compile(r"^\s*([A-Za-z]{3,9})\.?[ -]+(\d{4})\s*$")
_YEAR_MONTH = re.compile(r"^\s*(\d{4})-(\d{1,2})\s*$")
_ISO = re.compile(r"^\s*\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
                  r"\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?)?\s*$")
_ISO_TIME = re.compile(r"\d{2}:\d{2}")
_SERIAL = re.compile(r"^\s*\d{4,5}(?:\.\d+)?\s*$")


def date_order(values: pd.Series) -> str | None:
    """Decide the day/month order of a column's slash dates: 'mdy', 'dmy' or None if none.

    A first field above 12 proves day-first; a second field above 12 proves month-first;
    when nothing decides, month-first (the US convention) is used.
    """
    parts = values.astype("str").str.extract(_SLASH)
    parts = parts[parts[0].notna()]
    if parts.empty:
        return None
    first = parts[0].astype(int)
    second = parts[1].astype(int)
    if (first > 12).any() and not (second > 12).any():
        return "dmy"
    return "mdy"


def parse_iso_days(values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series] | None:
    """Parse a column whose every cell is a valid ``YYYY-MM-DD`` date with Arrow, else None.

    The common case of `parse_dates`, with the same result: day precision, no problems.
    Arrow's date parser accepts exactly ten characters, digits and dashes in place, and a
    real calendar day; anything else (times, zones, spaces, slashes, impossible days, years
    outside 1678..2261) returns None and takes the general path.
    """
    array = arrow_text(values)
    if array is None or not len(array):
        return None
    lengths = pc.min_max(pc.binary_length(array))
    if lengths["min"].as_py() != 10 or lengths["max"].as_py() != 10:
        return None
    try:
        days = pc.cast(array, pa.date32())
    except pa.ArrowInvalid:
        return None
    bounds = pc.min_max(days.cast(pa.int32()))
    low, high = _ISO_DAY_RANGE
    if bounds["min"].as_py() < low or bounds["max"].as_py() > high:
        return None
    index = values.index
    when = pd.Series(days.cast(pa.timestamp("us")).to_numpy(zero_copy_only=False),
                     index=index, dtype="datetime64[us]")
    precision = pd.Series(np.full(len(index), "day", dtype=object), index=index, dtype=object)
    problem = pd.Series(None, index=index, dtype=object)
    return when, precision, problem


def parse_dates(values: pd.Series, order: str = "mdy") -> tuple[pd.Series, pd.Series, pd.Series]:
    """Parse a column of dates as UTC.

    Parameters
    ----------
    values : pandas.Series of str
    order : {'mdy', 'dmy'}
        How to read ambiguous slash dates (decided once per file with `date_order`).

    Returns
    -------
    (when, precision, problem) : tuple of pandas.Series
        `when` naive UTC timestamps (NaT where unparsed), `precision` 'second', 'day' or
        'month', and `problem` a message where the value could not be read (else None).

    Notes
    -----
    A column of plain ``YYYY-MM-DD`` dates (the common case) is read by Arrow
    (`parse_iso_days`); any other column by the general path, with the same results.
    """
    days = parse_iso_days(values)
    return days if days is not None else parse_general_dates(values, order)


def parse_general_dates(values: pd.Series,
                        order: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Parse any column of dates (`parse_dates` without its fast path).

    For callers that tried `parse_iso_days` themselves: `parse_dates` would try it again.
    """
    text = values.astype("str").str.strip()
    when = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us]")
    precision = pd.Series("day", index=text.index, dtype=object)
    problem = pd.Series(None, index=text.index, dtype=object)

    # ISO 8601 first, vectorised over the whole column (the common case); the regular
    # expressions below only see what it could not read.
    iso = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    iso_ok = (iso.notna() & (text.str.slice(4, 5) == "-")).to_numpy()
    if iso_ok.any():
        when[iso_ok] = iso[iso_ok].dt.tz_convert(None).astype("datetime64[us]")
        length = text[iso_ok].str.len()
        precision[iso_ok] = np.where(length <= 7, "month", np.where(length <= 10, "day",
                                                                     "second"))
    rest_index = text.index[~iso_ok]
    if not len(rest_index):
        return when, precision, problem
    text = text[rest_index]
    slash = text.str.extract(_SLASH)
    slash = slash[slash[0].notna()]
    if len(slash):
        idx = slash.index
        a, b = slash[0].astype(int), slash[1].astype(int)
        month, day = (a, b) if order == "mdy" else (b, a)
        year = slash[2].astype(int)
        year = year.where(slash[2].str.len() == 4, np.where(year < 69, 2000 + year, 1900 + year))
        hour = slash[3].fillna("0").astype(int)
        ampm = slash[6].fillna("").str.upper()
        bad_hour = (ampm != "") & ((hour < 1) | (hour > 12))
        hour = hour.where(~((ampm == "P") & (hour < 12)), hour + 12)
        hour = hour.where(~((ampm == "A") & (hour == 12)), 0)
        parts = pd.DataFrame({"year": year, "month": month, "day": day, "hour": hour,
                              "minute": slash[4].fillna("0").astype(int),
                              "second": slash[5].fillna("0").astype(int)})
        parsed = pd.to_datetime(parts, errors="coerce").astype("datetime64[us]")
        parsed[bad_hour] = pd.NaT
        when[idx] = parsed
        precision[idx] = np.where(slash[3].notna(), "second", "day")
        order_name = "month/day/year" if order == "mdy" else "day/month/year"
        problem[parsed[parsed.isna()].index] = f"not a valid date when read as {order_name}"
    named = text.str.extract(_MONTH_NAME)
    named = named[named[0].notna()]
    if len(named):
        month = named[0].str[:3].str.lower().map(MONTHS)
        named = named[month.notna()]
        if len(named):
            parts = pd.DataFrame({"year": named[1].astype(int),
                                  "month": month[named.index].astype(int), "day": 1})
            when[named.index] = pd.to_datetime(parts, errors="coerce").astype("datetime64[us]")
            precision[named.index] = "month"
    ym = text.str.extract(_YEAR_MONTH)
    ym = ym[ym[0].notna()]
    if len(ym):
        parts = pd.DataFrame({"year": ym[0].astype(int), "month": ym[1].astype(int), "day": 1})
        when[ym.index] = pd.to_datetime(parts, errors="coerce").astype("datetime64[us]")
        precision[ym.index] = "month"
    missing = (when[rest_index].isna() & problem[rest_index].isna())
    missing = missing[missing].index
    if len(missing):
        sub = text[missing]
        serial = sub[sub.str.match(_SERIAL.pattern)].index
        empty = sub[sub == ""].index
        other = sub.index.difference(serial).difference(empty)
        problem[serial] = ("looks like an Excel date serial number; format the column as a "
                           "date (YYYY-MM-DD) before saving as CSV")
        problem[empty] = "date is missing"
        problem[other] = ("not a recognised date (use YYYY-MM-DD, MM/DD/YYYY [hh:mm[:ss] AM], "
                          "M/D/YY H:MM or Mon YYYY)")
    return when, precision, problem


# Output ---------------------------------------------------------------------------------------

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
