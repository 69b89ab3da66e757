"""An import's report: its issues (capped), real line numbers, and the rejected-rows file.

Row errors and warnings are collected per block as frames (`IssueLog`, keeping only what the
report can show), carry provisional line numbers (one line per record) until the file has
been read, and are then mapped to real ones (`line_mapper`) and merged into the report of
SPEC §4 (`build_report`). Rejected rows, with their original cells and reasons, go to
``rejected/<import_id>.csv`` in the upload folder (`RejectedWriter`, `rejected_path`),
written with the CSV output rule's line ending (`geomap.csv_output`). No Flask.
"""

from __future__ import annotations

import csv
import heapq
import itertools
import os
import uuid
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from . import sharing
from .columns import note
from .reading import Batch, Reader
from .rows import Context
from .settings import Settings
from .sniffing import Layout
from .. import jsontext, store
from ..csv_output import LINE_END

MAX_ISSUES = 1000
MAX_VALUE_CHARS = 200
#: Rows shown per reason (the report's ``errors_by_reason``, the preview's counts).
MAX_EXAMPLES = 5
#: Distinct reasons counted apart; any more are counted together under `OTHER_REASONS`.
MAX_REASONS = 60
OTHER_REASONS = "other reasons"


class IssueLog(list):
    """Issue frames of an import, keeping only the first rows the report can show, and
    every issue counted by reason.

    ``total`` counts every issue; the frames stop growing after `MAX_ISSUES` + 1 rows so a
    file with millions of warnings does not hold them all in memory. ``reasons`` counts
    every issue by its reason (the frame's ``reason`` column, else its message), keeping
    the columns it was found in and its first `MAX_EXAMPLES` rows (`by_reason`).
    """

    def __init__(self):
        super().__init__()
        self.total = 0
        self.kept = 0
        self.reasons: dict[str, dict] = {}

    def append(self, frame: pd.DataFrame) -> None:
        n = len(frame)
        self.total += n
        if n:
            self._count(frame)
        room = MAX_ISSUES + 1 - self.kept
        if n and room > 0:
            part = frame.iloc[:room]
            self.kept += len(part)
            super().append(part)

    def extend(self, frames) -> None:
        for frame in frames:
            self.append(frame)

    def _count(self, frame: pd.DataFrame) -> None:
        """Count a frame's issues by reason (factorized: one step per distinct reason)."""
        message = frame["message"].to_numpy(dtype=object)
        reason = (frame["reason"].to_numpy(dtype=object) if "reason" in frame
                  else np.full(len(frame), None, dtype=object))
        reason = np.where(pd.isna(reason), message, reason)
        codes, uniques = pd.factorize(reason)
        counts = np.bincount(codes, minlength=len(uniques))
        for code, text in enumerate(uniques):
            text = str(text)
            if text not in self.reasons and len(self.reasons) >= MAX_REASONS:
                text = OTHER_REASONS
            group = self.reasons.setdefault(text, {"count": 0, "columns": {},
                                                   "examples": [], "shown": 0})
            group["count"] += int(counts[code])
            where = np.flatnonzero(codes == code)
            for column in frame["column"].iloc[where[:50]].dropna().unique():
                group["columns"].setdefault(str(column), None)
            room = MAX_EXAMPLES - group["shown"]
            if room > 0:
                group["examples"].append(frame.iloc[where[:room]])
                group["shown"] += min(room, len(where))


def to_lines(frame: pd.DataFrame, batch: Batch) -> pd.DataFrame:
    """Replace block positions (``record``) by provisional line numbers (``line``)."""
    if frame.empty:
        return pd.DataFrame(columns=["line", "real", "column", "value", "message"])
    out = frame.drop(columns=["record"])
    out.insert(0, "line", batch.lines[frame["record"].to_numpy(dtype=np.int64)])
    out.insert(1, "real", False)
    return out


def line_mapper(reader: Reader, layout: Layout):
    """Return a function from provisional line numbers to real ones.

    Provisional numbers assume one line per record; when the file breaks that (quoted
    newlines, blank lines, malformed records) the csv module finds the real lines.
    """
    if reader.exact:
        return lambda values: np.asarray(values, dtype=np.int64)
    lines, _bad = reader.remap()
    header = 1 if layout.header else 0

    def real(values):
        index = np.asarray(values, dtype=np.int64) - header - 1
        if not len(lines):
            return np.asarray(values, dtype=np.int64)
        return lines[np.clip(index, 0, len(lines) - 1)]

    return real


def add_malformed(reader, layout, error_parts, rejected, totals) -> None:
    """Report records with the wrong number of fields (pyarrow skipped them)."""
    bad = reader.malformed()
    width = len(layout.columns)
    for record in bad:
        totals.rejected += 1
        message = f"has {record.fields} fields; the header has {width}"
        error_parts.append(pd.DataFrame({"line": [record.line], "real": [True], "column": [None],
                                         "value": [record.text[:MAX_VALUE_CHARS]],
                                         "message": [message],
                                         "reason": ["has another number of fields than the "
                                                    "header"]}))
        rejected.add_raw(record.line, record.text, message, layout.delimiter)


def build_report(slug, totals: "storing.Totals", error_parts, warning_parts, ctx: Context,
            real) -> dict:
    errors = _issue_list(error_parts, real, "errors")
    warnings = ctx.file_notes + _issue_list(warning_parts, real, "warnings")
    if ctx.swapped:
        warnings.insert(0, note(f"{ctx.swapped} row(s) had latitude and longitude swapped; "
                                 "they were imported swapped back (see the row warnings)"))
    total = totals.imported + totals.updated + totals.unchanged + totals.rejected
    places = ctx.places.summary()
    return {**({"places": places} if places else {}), "dataset": slug, "version": None, "rows_total": total,
            "rows_imported": totals.imported, "rows_updated": totals.updated,
            "rows_unchanged": totals.unchanged, "rows_rejected": totals.rejected,
            "errors": errors, "warnings": warnings,
            "errors_by_reason": by_reason(error_parts, real),
            "warnings_by_reason": by_reason(warning_parts, real),
            "regions": dict(sorted((k, v) for k, v in totals.regions.items() if k != "none"))}


def _issue_list(parts: "IssueLog", real, kind: str) -> list[dict]:
    """Merge issue frames into the report list: real line numbers, sorted, capped."""
    grand_total = parts.total
    items = _items([p for p in parts if len(p)], real, MAX_ISSUES)
    total = grand_total
    if total > MAX_ISSUES:
        items.append(note(f"... and {total - MAX_ISSUES} more {kind} (the rejected-rows CSV "
                           "lists every rejected row)"))
    return items


def by_reason(log: "IssueLog", real) -> list[dict]:
    """The issues counted by reason, most frequent first: ``reason``, ``rows`` (issues with
    that reason; a row with two reasons counts in both), ``columns`` and ``examples`` (the
    first `MAX_EXAMPLES` as report items, real row numbers)."""
    groups = [{"reason": reason, "rows": group["count"], "columns": list(group["columns"]),
               "examples": _items(group["examples"], real, MAX_EXAMPLES)}
              for reason, group in log.reasons.items()]
    return sorted(groups, key=lambda g: (-g["rows"], g["reason"] == OTHER_REASONS))


def reason_groups(report: dict, kind: str) -> list[dict]:
    """A report's ``<kind>_by_reason`` (kind: errors or warnings); for a report recorded
    before reasons were counted, its listed row issues grouped by message (counts of the
    listed ones only, which the report capped at `MAX_ISSUES`)."""
    grouped = report.get(f"{kind}_by_reason")
    if grouped is not None:
        return grouped
    groups: dict[str, dict] = {}
    for item in report.get(kind) or []:
        if item.get("row") is None:
            continue
        group = groups.setdefault(item["message"], {"reason": item["message"], "rows": 0,
                                                    "columns": [], "examples": []})
        group["rows"] += 1
        if item.get("column") and item["column"] not in group["columns"]:
            group["columns"].append(item["column"])
        if len(group["examples"]) < MAX_EXAMPLES:
            group["examples"].append(item)
    return sorted(groups.values(), key=lambda g: -g["rows"])


def describe_group(group: dict) -> str:
    """One line for a reason, as the CLI prints it: ``4,599 rows: outside the US–Canada
    border area — e.g. rows 3, 8, 9``."""
    rows = [str(item["row"]) for item in group["examples"] if item.get("row") is not None]
    shown = f" — e.g. row{'s' if len(rows) > 1 else ''} {', '.join(rows)}" if rows else ""
    return f"{group['rows']:,} row{'s' if group['rows'] != 1 else ''}: {group['reason']}{shown}"


def _items(parts: list[pd.DataFrame], real, limit: int) -> list[dict]:
    """Issue frames as report items ({row, column, value, message}): real line numbers,
    ``{ref}`` filled in, sorted by row, the first `limit`."""
    if not parts:
        return []
    frame = pd.concat(parts, ignore_index=True)
    # A copy: to_numpy may return a read-only view of the frame's own object column.
    line = np.array(frame["line"].to_numpy(dtype=object), dtype=object)
    provisional = ~frame["real"].to_numpy(dtype=bool) & pd.notna(line)
    if provisional.any():
        line[provisional] = real(line[provisional].astype(np.int64))
    frame["row"] = line
    if "ref" in frame:
        has_ref = frame["ref"].notna().to_numpy()
        if has_ref.any():
            refs = real(frame.loc[has_ref, "ref"].astype(np.int64).to_numpy())
            frame.loc[has_ref, "message"] = [m.format(ref=r) for m, r in zip(
                frame.loc[has_ref, "message"], refs)]
    frame = frame.sort_values("row", kind="stable",
                              key=lambda s: pd.to_numeric(s, errors="coerce").fillna(0))
    return [{"row": None if pd.isna(r) else int(r), "column": c, "value": _printable(v),
             "message": m}
            for r, c, v, m in frame[["row", "column", "value", "message"]]
            .head(limit).itertuples(index=False, name=None)]


def _printable(value):
    """A cell value for the report: U+0000 shown as ␀ (PostgreSQL's JSON cannot hold it)."""
    return value.replace("\x00", "\u2400") if isinstance(value, str) else value


class RejectedWriter:
    """Collect rejected rows (original cells + reason) in a CSV next to the uploads."""

    def __init__(self, folder: Path, columns: list[str]):
        self.folder = folder / "rejected"
        self.columns = columns
        self.tmp: Path | None = None

    def _open(self):
        if self.tmp is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.tmp = self.folder / f"tmp-{uuid.uuid4().hex}.csv"
            with open(self.tmp, "w", newline="", encoding="utf-8") as handle:
                csv.writer(handle).writerow(["row", "_real", *self.columns, "reason"])
        return open(self.tmp, "a", newline="", encoding="utf-8")

    def add(self, batch: Batch, errs: pd.DataFrame) -> None:
        reasons = errs.groupby("line", sort=True)["message"].agg("; ".join)
        first = int(batch.lines[0])
        sub = batch.frame.iloc[reasons.index.to_numpy(dtype=np.int64) - first].copy()
        sub.insert(0, "row", reasons.index.to_numpy(dtype=np.int64))
        sub.insert(1, "_real", 0)
        sub["reason"] = reasons.to_numpy()
        with self._open() as handle:
            # CRLF like csv.writer above: a cell holding a bare CR is quoted, so reading the
            # file back in finish() keeps it in its row (with "\n" it split the row in two).
            sub.to_csv(handle, header=False, index=False, lineterminator=LINE_END)

    def add_raw(self, line, text: str, message: str, delimiter: str) -> None:
        fields = next(csv.reader([text], delimiter=delimiter), [])
        fields = (fields + [""] * len(self.columns))[:len(self.columns)]
        with self._open() as handle:
            csv.writer(handle).writerow(["" if line is None else line, 1, *fields, message])

    def finish(self, import_id: int, real) -> None:
        """Move the file to rejected/<import_id>.csv, with real line numbers, in file order.

        Streamed: lines are mapped a chunk at a time and the file's sorted runs merged (the
        blocks' rows come in file order; a last block of recovered rows and the malformed
        records, written after them, each form a run of their own), so a file with millions
        of rejected rows is never held in memory (it was read whole into a frame and sorted).
        """
        target = self.folder / f"{int(import_id)}.csv"
        target.unlink(missing_ok=True)
        if self.tmp is None:
            return
        runs = _Runs(self.folder)
        try:
            with open(self.tmp, newline="", encoding="utf-8") as handle:
                rows = csv.reader(handle)
                header = next(rows)
                del header[1]  # _real
                for chunk in _chunks(rows, _FINISH_CHUNK):
                    runs.add(_real_lines(chunk, real))
            runs.close()
            merged = self.folder / f"tmp-{uuid.uuid4().hex}.csv"
            with open(merged, "w", newline="", encoding="utf-8") as out:
                writer = csv.writer(out, lineterminator=LINE_END)
                writer.writerow(header)
                sources = [open(path, newline="", encoding="utf-8") for path in runs.paths]
                try:
                    # Stable: equal rows keep the order of their runs (the file's order).
                    writer.writerows(heapq.merge(*(csv.reader(s) for s in sources),
                                                 key=_row_key))
                finally:
                    for source in sources:
                        source.close()
            os.replace(merged, target)
        finally:
            runs.discard()
        self.tmp.unlink(missing_ok=True)
        self.tmp = None

    def discard(self) -> None:
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)
            self.tmp = None


#: Rows of the rejected-rows file mapped to real lines at a time (`RejectedWriter.finish`).
_FINISH_CHUNK = 50_000


def _chunks(rows, size: int):
    """Yield lists of at most `size` rows from an iterator of rows."""
    while True:
        chunk = list(itertools.islice(rows, size))
        if not chunk:
            return
        yield chunk


def _real_lines(chunk: list[list[str]], real) -> list[list[str]]:
    """Rows ``[row, _real, *cells, reason]`` -> ``[row, *cells, reason]``, provisional line
    numbers (``_real`` 0) replaced by real ones (`line_mapper`), in one call per chunk."""
    provisional = [i for i, row in enumerate(chunk) if row[1] == "0"]
    if provisional:
        mapped = real(np.array([int(chunk[i][0]) for i in provisional], dtype=np.int64))
        for i, line in zip(provisional, np.asarray(mapped).tolist()):
            chunk[i][0] = str(line)
    for row in chunk:
        del row[1]
    return chunk


def _row_key(row: list[str]) -> tuple[int, int]:
    """Sort key of a rejected row: its line; rows without one (never located) go last."""
    return (0, int(row[0])) if row[0] else (1, 0)


class _Runs:
    """Rows split into runs sorted by line, each in a temporary file beside the rejected
    rows (named as the files `uploads.prune` removes if an import is killed)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.paths: list[Path] = []
        self._handle = None
        self._writer = None
        self._last: tuple[int, int] | None = None

    def add(self, rows: list[list[str]]) -> None:
        for row in rows:
            key = _row_key(row)
            if self._writer is None or key < self._last:
                self._start()
            self._writer.writerow(row)
            self._last = key

    def _start(self) -> None:
        self.close()
        self.paths.append(self.folder / f"tmp-{uuid.uuid4().hex}.csv")
        self._handle = open(self.paths[-1], "w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._handle, lineterminator=LINE_END)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def discard(self) -> None:
        self.close()
        for path in self.paths:
            path.unlink(missing_ok=True)


def rejected_path(settings: Settings, import_id: int) -> Path | None:
    """Return the rejected-rows CSV of an import, or None if it had no rejected rows (made
    on another server: fetched from the shared store into this server's upload folder)."""
    path = Path(settings.upload_folder) / "rejected" / f"{int(import_id)}.csv"
    return sharing.local_copy(settings, sharing.rejected_key(import_id), path)


def original_file(settings: Settings, record: dict) -> Iterator[bytes] | None:
    """The original file of an import (its record, `store.get_import`) as chunks, from the
    shared store or this server's upload folder; None if it was not kept or is gone."""
    name = record.get("stored_path")
    if not name:
        return None
    return sharing.open_shared(settings, sharing.upload_key(name),
                               Path(settings.upload_folder) / name)


def recorded_import(conn, settings: Settings, slug: str,
                    import_id: int) -> tuple[dict, dict, Path | None]:
    """Return an import's dataset, its record (with the report) and its rejected-rows file.

    NotFound unless the dataset exists and the import is one of its imports.
    """
    dataset = store.get_dataset(conn, slug)
    record = store.get_import(conn, import_id, dataset)
    return dataset, record, rejected_path(settings, import_id)


def report_json(report: dict) -> dict:
    """Return the report with every value JSON-serialisable (NaN/NA as None)."""
    return jsontext.plain(report)
