"""Reading a received file: streaming its records in blocks of string cells.

This module knows about bytes, encodings, delimiters, line numbers and the text of cells; it
knows nothing about incidents, datasets or the database (that is `pipeline`). It never
imports Flask.

The file is read twice at most: once while it is copied into the upload folder (`receiving`:
hashing it, checking that it is UTF-8 and counting its lines) and once by pyarrow's streaming
CSV reader, in blocks (and pyarrow's own reads, `READ_SIZE`, smaller still), so memory
stays bounded whatever the file size. A third pass, with Python's `csv`
module, runs only when line numbers cannot be derived from the record index (quoted newlines,
blank lines or malformed rows).
"""

from __future__ import annotations

import csv
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from . import structure
from .receiving import COPY_CHUNK, Received
from .sniffing import Layout
from ..errors import Unprocessable

#: Bytes of CSV handed on together as one block (parsed, validated and written as a unit).
BLOCK_SIZE = 8 << 20
#: Bytes pyarrow reads at a time (at most `BLOCK_SIZE`); blocks are made of several reads.
#: pyarrow reads up to 32 of its blocks ahead on a background thread: with 8 MB reads that
#: was 256 MB of a large file held in memory before any of it was needed (64 MB now). It is
#: also the longest line pyarrow accepts (a 1 MB description is imported).
READ_SIZE = 2 << 20
# pyarrow reads fields of any length, but Python's csv module (line numbers of irregular
# files, the rejected-rows file) raised past its default 128 KiB per field: a long cell in a
# malformed record gave a 500. Uploads are bounded by MAX_UPLOAD_MB; this only raises a limit.
csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))


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
    numbers. A quoted field left open (see `structure`) stops the read with
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

        # Columns read beyond the header (see structure.read_width) get names no header name
        # can have (those are stripped), so they never collide with one.
        names = self.layout.columns + [f" extra {i}" for i in
                                       range(1, self.read_width - self.width + 1)]
        reader = self._open(path, names, on_invalid)
        good = 0
        try:
            for record_batch in self._gathered(reader):
                n = record_batch.num_rows
                lines = np.arange(good, good + n, dtype=np.int64) + header_lines + 1
                good += n
                errors = self._block_errors(record_batch)
                frame = record_batch.select(range(self.width)).to_pandas()
                del record_batch  # the strings are Python objects in `frame` now
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
            runaway = structure.last_line_ends_in_quote(path, self.layout.delimiter,
                                                       header_lines + 1, lines_total)
            if runaway is not None:
                raise structure.runaway_error(runaway, self.layout.columns)
        else:
            self.remap()  # also checks every multi-line record for a quote left open
        recovered = self._recover()
        if recovered is not None:
            yield recovered

    def _gathered(self, reader) -> Iterator[pa.RecordBatch]:
        """pyarrow's reads (`READ_SIZE`) gathered into blocks of about `block_size` bytes,
        each read checked for a quote left open as it comes."""
        pending: list[pa.RecordBatch] = []
        size = 0
        for record_batch in reader:
            if structure.check_runaway(record_batch):
                self._locate_runaway()
                raise structure.unplaced_runaway()  # the csv module saw it differently
            pending.append(record_batch)
            size += record_batch.nbytes
            if size >= self.block_size:
                yield pending[0] if len(pending) == 1 else pa.concat_batches(pending)
                pending, size = [], 0
        if pending:
            yield pending[0] if len(pending) == 1 else pa.concat_batches(pending)

    def _block_errors(self, batch: pa.RecordBatch) -> pd.DataFrame | None:
        return structure.block_errors(batch, self.width, self.layout.delimiter, nul=self._nul)

    def _recover(self) -> Batch | None:
        """The refused records that are good rows (only empty fields beyond the header).

        They get the provisional lines after the last good record's, and `remap` maps those
        to their real lines, so the rest of the pipeline treats them as any other block.
        """
        rows, keep = [], []
        for index, (_fields, text) in enumerate(self.bad_texts):
            fields = structure.recover(text, self.layout.delimiter, self.width)
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
        structure.checked_scan(self._path, self.layout.delimiter, self.layout.header,
                              self.read_width, self.layout.columns, cells=True)

    def remap(self) -> tuple[np.ndarray, list[BadRecord]]:
        """Return the real line number of every good record, and the malformed records.

        Re-reads the file with Python's csv module (once; the result is kept), which tracks
        physical lines through quoted newlines and skips blank lines as pyarrow does, and
        raises Unprocessable for a quoted field left open.
        """
        if self._remapped is not None:
            return self._remapped
        good_lines, bad_lines = structure.checked_scan(
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
        read = pacsv.ReadOptions(block_size=min(self.block_size, READ_SIZE), column_names=names,
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
        return (f"a line is longer than {min(BLOCK_SIZE, READ_SIZE) / 2**20:g} MB; this does "
                "not look like a CSV file of incidents")
    if "UTF8" in text or "utf8" in text.lower():
        return "the file is not valid text in a supported encoding (UTF-8, UTF-16, cp1252)"
    return f"the file could not be read as CSV: {text}"

