"""CSV ingest: a file -> validated incidents -> regions -> store, in one transaction.

One pipeline serves the upload form, ``flask import-csv`` and ``POST /api/.../incidents``:

    receive -> sniff -> resolve columns -> [per block: parse cells -> validate -> assign regions
    -> hash -> dedupe/upsert -> write] -> report -> record the import

Files are streamed in blocks (`geomap.csvfile`), so memory does not grow with the file. The
whole import is one database transaction (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: the
dataset row is locked ``FOR UPDATE``), so concurrent imports into one dataset queue, and
readers see all of an import or none of it. This module never imports Flask.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import queue
import re
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterable, Mapping

import numpy as np
import pandas as pd
import sqlalchemy as sa

from . import access, csvfile, db, ingest_store, store
from .errors import BadRequest, Conflict, GeomapError, Unprocessable
from .ingest_rows import (ALIASES, FIELDS, Columns, Context, load_regions, resolve_columns,
                          transformer_for, validate, _note)

MODES = ("append", "replace")
MAX_ISSUES = 1000
MAX_VALUE_CHARS = 200

# --- options ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Options:
    """What the caller asked for.

    Attributes
    ----------
    mode : {'append', 'replace'}
    strict : bool
        Any rejected row (or a row beyond ``MAX_BORDER_KM``) aborts the whole import.
    crs : str or None
        CRS of the coordinates (EPSG code or PROJ string); None means EPSG:4326.
    header : bool
        False for a file without a header row (map columns by number).
    mapping : dict
        FIELD -> header name or 1-based column number, overriding detection.
    title, source, license, description : str
        Used when the dataset does not exist yet and is created by this import.
    publish : bool
        Publish the dataset in the same transaction.
    filename : str
        The uploaded file's name, recorded for the audit trail only (never used as a path).
    """

    mode: str = "append"
    strict: bool = False
    crs: str | None = None
    header: bool = True
    mapping: Mapping[str, str] = field(default_factory=dict)
    title: str = ""
    source: str = ""
    license: str = ""
    description: str = ""
    publish: bool = False
    filename: str = ""


def parse_mapping(items: Iterable[str]) -> dict[str, str]:
    """Parse ``FIELD=COLUMN`` strings (CLI ``--map``) into a mapping, validating FIELD."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, column = str(item).partition("=")
        if not sep or not column.strip():
            raise BadRequest(f"column mapping {item!r} is not FIELD=COLUMN",
                             details={"mapping": item})
        out[name.strip().lower()] = column.strip()
    return check_mapping(out)


def check_mapping(mapping: Mapping[str, str]) -> dict[str, str]:
    """Return the mapping with empty entries dropped; raise BadRequest for unknown fields."""
    out = {}
    for name, column in mapping.items():
        if column is None or str(column).strip() == "":
            continue
        if name not in FIELDS:
            raise BadRequest(f"unknown field {name!r} in the column mapping; fields are "
                             + ", ".join(FIELDS), details={"field": name})
        out[name] = str(column).strip()
    return out


def options_from(values: Mapping[str, Any]) -> Options:
    """Build Options from strings (query parameters, form fields), validating each one.

    Recognised keys: mode, strict, crs, no_header, title, source, license, description,
    publish, filename, and ``map_<field>`` (or ``map`` as a list of FIELD=COLUMN).
    """
    def flag(name: str) -> bool:
        raw = str(values.get(name, "") or "").strip().lower()
        if raw in ("", "0", "false", "no", "off"):
            return False
        if raw in ("1", "true", "yes", "on"):
            return True
        raise BadRequest(f"{name} must be true or false, got {raw!r}", details={"field": name})

    mapping = {name: values.get(f"map_{name}") for name in FIELDS}
    raw_map = values.get("map")
    if raw_map:
        mapping.update(parse_mapping([raw_map] if isinstance(raw_map, str) else raw_map))
    return check_options(Options(
        mode=str(values.get("mode") or "append").strip().lower(),
        strict=flag("strict"), crs=(str(values.get("crs") or "").strip() or None),
        header=not flag("no_header"), mapping=check_mapping(mapping),
        title=str(values.get("title") or "").strip(), source=str(values.get("source") or "").strip(),
        license=str(values.get("license") or "").strip(),
        description=str(values.get("description") or "").strip(),
        publish=flag("publish"), filename=str(values.get("filename") or "")[:300]))


def check_options(options: Options) -> Options:
    """Validate options; raise BadRequest naming the bad one."""
    if options.mode not in MODES:
        raise BadRequest(f"mode must be append or replace, got {options.mode!r}",
                         details={"field": "mode", "value": options.mode})
    check_mapping(options.mapping)
    if options.crs:
        transformer_for(options.crs)
    for name, limit in (("title", 300), ("source", 500), ("license", 200)):
        if len(getattr(options, name)) > limit:
            raise BadRequest(f"{name} is longer than {limit} characters", details={"field": name})
    # PostgreSQL text cannot hold U+0000 (a 500 when the dataset or import row is written).
    for name in ("title", "source", "license", "description"):
        if "\x00" in getattr(options, name):
            raise BadRequest(f"{name} contains a NUL character (U+0000)",
                             details={"field": name})
    if "\x00" in options.filename:  # the client's file name, kept for the audit trail only
        options = dataclasses.replace(options, filename=options.filename.replace("\x00", ""))
    return options


# --- the pipeline -----------------------------------------------------------------------------

def import_file(engine: sa.Engine, source: str | os.PathLike | IO[bytes], *, dataset: str,
                options: Options, settings: Mapping[str, Any], regions: Any,
                user_name: str | None = None, actor: access.Actor | None = access.OPERATOR
                ) -> dict:
    """Import a CSV file of incidents into a dataset, in one transaction.

    Parameters
    ----------
    engine : sqlalchemy.Engine
    source : path or binary stream
        The CSV file. It is copied into ``settings['UPLOAD_FOLDER']`` under its sha256 and
        kept there for audit and replay.
    dataset : str
        Slug of the dataset; created (from the options' title, source, licence) if missing.
    options : Options
    settings : mapping
        ``UPLOAD_FOLDER``, ``AT_BORDER_M``, ``MAX_BORDER_KM``.
    regions : object
        The loaded region layers (`load_regions`).
    user_name : str, optional
        Recorded on the import.
    actor : access.Actor, optional
        Who imports: they must be allowed to write an existing dataset (checked in the
        import's transaction, `access.claim_import`) and own a dataset the import creates.
        The default is the operator (command line, sample); web views pass their user, and
        None (nobody signed in) is refused.

    Returns
    -------
    dict
        The report of SPEC §4 (plus ``import_id``).

    Raises
    ------
    geomap.errors.Unprocessable
        A file that cannot be imported at all (one-line reason), or a strict import with
        rejected rows (the report is in ``details``). Nothing is written in either case.
    geomap.errors.BadRequest
        Invalid options or slug.
    """
    options = check_options(options)
    store.check_slug(dataset)
    received = csvfile.receive(source, settings["UPLOAD_FOLDER"])
    try:
        layout = _layout(received, options)
        columns = resolve_columns(layout.columns, options.mapping, header=options.header)
        ctx = Context(columns=columns, options=options, settings=settings, regions=regions,
                      transformer=transformer_for(options.crs) if options.crs else None,
                      now=store.utcnow(), file_notes=list(columns.notes))
        try:
            report = _run(engine, received, layout, ctx, dataset, user_name, actor)
        except sa.exc.OperationalError as exc:
            if "locked" not in str(exc).lower():
                raise
            raise Conflict("another import is writing to the database; try again when it "
                           "has finished", details={"dataset": dataset}) from None
    except BaseException:
        csvfile.discard(received)
        raise
    return report


def _layout(received: csvfile.Received, options: Options) -> csvfile.Layout:
    csvfile.refuse_binary(received.head, received.size)
    encoding = csvfile.detect_encoding(received.head, received.utf8)
    return csvfile.sniff(received.head, encoding, header=options.header)


def preview(source: str | os.PathLike | IO[bytes], options: Options,
            settings: Mapping[str, Any], rows: int = 10) -> dict:
    """Describe how a file would be read, without importing it.

    The file is kept in the upload folder under its sha256, which the caller passes back to
    import it (`stored_upload`).

    Returns
    -------
    dict
        ``sha256``, ``encoding``, ``delimiter``, ``columns`` (names), ``fields`` (FIELD ->
        column), ``notes``, ``rows`` (the first records as lists of strings) and ``lines``
        (each one's line number in the file, as the report's ``row`` counts).
    """
    options = check_options(options)
    received = csvfile.receive(source, settings["UPLOAD_FOLDER"])
    try:
        layout = _layout(received, options)
        columns = resolve_columns(layout.columns, options.mapping, header=options.header)
    except GeomapError as error:
        csvfile.discard(received)
        error.details = {**(error.details or {}), "columns": _safe_columns(received, options)}
        raise
    csvfile.keep(received)
    return {"sha256": received.sha256, "size": received.size, "encoding": layout.encoding,
            "delimiter": csvfile.DELIMITER_NAMES.get(layout.delimiter, layout.delimiter),
            "columns": layout.columns, "fields": columns.fields,
            "notes": [n["message"] for n in columns.notes],
            "rows": [r[:len(layout.columns)] for r in layout.sample[:rows]],
            "lines": layout.sample_lines[:rows]}


def _safe_columns(received, options) -> list[str]:
    try:
        return _layout(received, options).columns
    except GeomapError:
        return []


_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


def stored_upload(settings: Mapping[str, Any], sha256: str) -> Path:
    """Return the path of a file kept by `preview`, given its sha256 (validated, never a path)."""
    if not isinstance(sha256, str) or not _SHA_RE.match(sha256):
        raise BadRequest("the uploaded file reference is not valid; upload the file again")
    path = Path(settings["UPLOAD_FOLDER"]) / f"{sha256}.csv"
    if not path.is_file():
        raise BadRequest("the uploaded file is no longer available; upload it again")
    return path


def _run(engine, received, layout, ctx: Context, slug: str, user_name, actor) -> dict:
    options = ctx.options
    reader = csvfile.Reader(received, layout)
    totals = ingest_store.Totals()
    rejected = _RejectedWriter(Path(ctx.settings["UPLOAD_FOLDER"]), layout.columns)
    error_parts = IssueLog()
    warning_parts = IssueLog()
    try:
        with db.write_connection(engine) as conn, ingest_store.big_cache(conn), \
                conn.begin():
            dataset, created = store.lock_dataset(
                conn, slug, options.title or slug, source=options.source,
                license=options.license, description=options.description)
            access.claim_import(conn, actor, dataset, created)
            removed = 0
            if options.mode == "replace":
                removed = store.delete_incidents(conn, dataset["id"])
                totals.empty = True
            else:
                totals.empty = store.count_incidents(conn, dataset["id"]) == 0
            # Rollups of the rows written: the whole of an empty dataset's, else what an
            # append adds to the existing ones (dropped if a row is rewritten).
            totals.rollup = store.RollupAccumulator(delta=not totals.empty)
            import_id = store.record_import(
                conn, dataset["id"], user_name=user_name, filename=options.filename[:300],
                sha256=received.sha256, size_bytes=received.size, mode=options.mode)
            bulk = ingest_store.BulkIndexes(conn, received.newlines, totals.empty)
            # Blocks are stored (hash, dedupe, write) on a writer thread while this one
            # parses and validates the next block; the writer alone uses the connection
            # until it is closed, so the transaction and its order of writes are unchanged.
            hash_here = conn.dialect.name == "postgresql"
            with store.IncidentWriter(conn) as totals.writer, _BlockWriter() as writer:
                for batch in reader:
                    rows, errors, warnings = validate(batch.frame, ctx)
                    errs = errors.frame()
                    if batch.errors is not None:  # structural: too many fields, U+0000
                        errs = pd.concat([batch.errors, errs], ignore_index=True)
                        rows = rows[~rows["record"].isin(batch.errors["record"])]
                        rows = rows.reset_index(drop=True)
                    errs = _lines(errs, batch)
                    if len(errs):
                        totals.rejected += int(errs["line"].nunique())
                        rejected.add(batch, errs)
                    error_parts.append(errs)
                    write = not (options.strict and totals.rejected)
                    if hash_here and len(rows):
                        # PostgreSQL: the writer mostly waits for the server, so the
                        # content hash (no database needed) is computed on this thread.
                        store.add_row_hashes(rows)
                    writer.submit(_store_job(conn, dataset["id"], import_id, rows, batch,
                                             totals, _lines(warnings.frame(), batch),
                                             warning_parts, write))
            bulk.restore()
            _malformed(reader, layout, error_parts, rejected, totals)
            real = _line_mapper(reader, layout)
            report = _report(slug, totals, error_parts, warning_parts, ctx, real)
            if options.strict and totals.rejected:
                raise Unprocessable(
                    f"strict mode: {totals.rejected} row(s) rejected, nothing was imported",
                    details=report_json(report))
            _refuse_mostly_rejected(totals, options, report)
            changed = totals.imported + totals.updated + removed > 0
            publish = options.publish and not dataset["published"]
            version = dataset["version"]
            if changed or publish:
                # The one door (version, rollups, publication); the rollups from the rows
                # as written when they are the whole dataset or all it gained (the same as
                # a rebuild from the table, without scanning it).
                version = store.incidents_changed(conn, dataset, totals.rollup,
                                                  created=created, publish=publish)
            report["version"] = version
            report["import_id"] = import_id
            if report["rows_total"] == 0:
                report["warnings"].append(_note("the file has no data rows"))
            report = report_json(report)
            rejected.finish(import_id, real)
            csvfile.keep(received)
            store.finish_import(
                conn, import_id, stored_path=received.path.name,
                rows_total=report["rows_total"], rows_imported=totals.imported,
                rows_updated=totals.updated, rows_unchanged=totals.unchanged,
                rows_rejected=totals.rejected, report=report)
    finally:
        reader.close()
        rejected.discard()
    return report


def _refuse_mostly_rejected(totals: "ingest_store.Totals", options: Options,
                            report: dict) -> None:
    """Raise Unprocessable (the transaction rolls back) when the file is mostly rejected.

    An import whose every row was rejected would only create or leave an empty import (an
    empty new dataset, a "success" with nothing in it); a replace that rejects more than half
    of the file would swap a published dataset for a fraction of it, usually because the
    file is not what it seems. Both are refused with the report in the error's details, and
    the dataset stays exactly as it was.
    """
    accepted = totals.imported + totals.updated + totals.unchanged
    rejected = totals.rejected
    if not rejected:
        return
    if not accepted:
        where = ("the dataset was left as it was" if options.mode == "replace"
                 else "nothing was imported")
        raise Unprocessable(f"none of the file's {rejected} row(s) could be imported, so "
                            f"{where}; see the errors", details=report_json(report))
    if options.mode == "replace" and rejected * 2 > rejected + accepted:
        raise Unprocessable(
            f"replace mode: {rejected} of the file's {rejected + accepted} rows were rejected "
            "(more than half), so the dataset was left as it was; fix the file (see the "
            "errors) or import it in append mode", details=report_json(report))


def _store_job(conn, dataset_id, import_id, rows, batch, totals, block_warnings,
               warning_parts, write):
    """Return the work of storing one validated block (run in order by `_BlockWriter`).

    The block's validation warnings are logged before its storage warnings, as when the
    pipeline ran on one thread, so the issues kept for the report are the same.
    """
    def job():
        warning_parts.append(block_warnings)
        found: list[pd.DataFrame] = []
        ingest_store.store(conn, dataset_id, import_id, rows, batch.lines, totals, found, write)
        warning_parts.extend(_lines(w, batch) for w in found)

    return job


class _BlockWriter:
    """Run jobs in submission order on one background thread, at most `depth` unfinished.

    While the writer hashes, dedupes and writes a block (sqlite3 and psycopg release the GIL
    while the database works; PostgreSQL's COPY and index maintenance run in the server
    process), the caller's thread parses and validates the next one; `submit` waits while
    `depth` jobs are unfinished, which bounds memory to depth + 1 blocks. The first error stops further jobs and is raised in the caller's
    thread (on the next `submit` or on exit); on exit the thread is always joined, so the
    connection is never used by two threads at once and the transaction can end normally.
    """

    def __init__(self, depth: int = 1):
        self._queue: queue.Queue = queue.Queue()
        # A slot per job submitted and not finished: with depth 1 the caller validates at
        # most one block ahead of the one being written (two blocks in memory, not three).
        self._slots = threading.Semaphore(depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="geomap-import-writer",
                                        daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if self._error is None:
                try:
                    job()
                except BaseException as exc:  # re-raised in the submitting thread
                    self._error = exc
            self._slots.release()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def submit(self, job) -> None:
        self._raise()
        self._slots.acquire()
        self._raise()
        self._queue.put(job)

    def __enter__(self) -> "_BlockWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._queue.put(None)
        self._thread.join()
        if exc_type is None:
            self._raise()


class IssueLog(list):
    """Issue frames of an import, keeping only the first rows the report can show.

    ``total`` counts every issue; the frames stop growing after `MAX_ISSUES` + 1 rows so a
    file with millions of warnings does not hold them all in memory.
    """

    def __init__(self):
        super().__init__()
        self.total = 0
        self.kept = 0

    def append(self, frame: pd.DataFrame) -> None:
        n = len(frame)
        self.total += n
        room = MAX_ISSUES + 1 - self.kept
        if n and room > 0:
            part = frame.iloc[:room]
            self.kept += len(part)
            super().append(part)

    def extend(self, frames) -> None:
        for frame in frames:
            self.append(frame)


def _lines(frame: pd.DataFrame, batch: csvfile.Batch) -> pd.DataFrame:
    """Replace block positions (``record``) by provisional line numbers (``line``)."""
    if frame.empty:
        return pd.DataFrame(columns=["line", "real", "column", "value", "message"])
    out = frame.drop(columns=["record"])
    out.insert(0, "line", batch.lines[frame["record"].to_numpy(dtype=np.int64)])
    out.insert(1, "real", False)
    return out


def _line_mapper(reader: csvfile.Reader, layout: csvfile.Layout):
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


def _malformed(reader, layout, error_parts, rejected, totals) -> None:
    """Report records with the wrong number of fields (pyarrow skipped them)."""
    bad = reader.malformed()
    width = len(layout.columns)
    for record in bad:
        totals.rejected += 1
        message = f"has {record.fields} fields; the header has {width}"
        error_parts.append(pd.DataFrame({"line": [record.line], "real": [True], "column": [None],
                                         "value": [record.text[:MAX_VALUE_CHARS]],
                                         "message": [message]}))
        rejected.add_raw(record.line, record.text, message, layout.delimiter)


def _report(slug, totals: "ingest_store.Totals", error_parts, warning_parts, ctx: Context,
            real) -> dict:
    errors = _issue_list(error_parts, real, "errors")
    warnings = ctx.file_notes + _issue_list(warning_parts, real, "warnings")
    if ctx.swapped:
        warnings.insert(0, _note(f"{ctx.swapped} row(s) had latitude and longitude swapped; "
                                 "they were imported swapped back (see the row warnings)"))
    total = totals.imported + totals.updated + totals.unchanged + totals.rejected
    return {"dataset": slug, "version": None, "rows_total": total,
            "rows_imported": totals.imported, "rows_updated": totals.updated,
            "rows_unchanged": totals.unchanged, "rows_rejected": totals.rejected,
            "errors": errors, "warnings": warnings,
            "regions": dict(sorted((k, v) for k, v in totals.regions.items() if k != "none"))}


def _issue_list(parts: "IssueLog", real, kind: str) -> list[dict]:
    """Merge issue frames into the report list: real line numbers, sorted, capped."""
    grand_total = parts.total
    parts = [p for p in parts if len(p)]
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
    total = grand_total
    items = [{"row": None if pd.isna(r) else int(r), "column": c, "value": _printable(v),
              "message": m}
             for r, c, v, m in frame[["row", "column", "value", "message"]]
             .head(MAX_ISSUES).itertuples(index=False, name=None)]
    if total > MAX_ISSUES:
        items.append(_note(f"... and {total - MAX_ISSUES} more {kind} (the rejected-rows CSV "
                           "lists every rejected row)"))
    return items


def _printable(value):
    """A cell value for the report: U+0000 shown as ␀ (PostgreSQL's JSON cannot hold it)."""
    return value.replace("\x00", "\u2400") if isinstance(value, str) else value


class _RejectedWriter:
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

    def add(self, batch: csvfile.Batch, errs: pd.DataFrame) -> None:
        reasons = errs.groupby("line", sort=True)["message"].agg("; ".join)
        first = int(batch.lines[0])
        sub = batch.frame.iloc[reasons.index.to_numpy(dtype=np.int64) - first].copy()
        sub.insert(0, "row", reasons.index.to_numpy(dtype=np.int64))
        sub.insert(1, "_real", 0)
        sub["reason"] = reasons.to_numpy()
        with self._open() as handle:
            # CRLF like csv.writer above: a cell holding a bare CR is quoted, so reading the
            # file back in finish() keeps it in its row (with "\n" it split the row in two).
            sub.to_csv(handle, header=False, index=False, lineterminator=csvfile.LINE_END)

    def add_raw(self, line, text: str, message: str, delimiter: str) -> None:
        fields = next(csv.reader([text], delimiter=delimiter), [])
        fields = (fields + [""] * len(self.columns))[:len(self.columns)]
        with self._open() as handle:
            csv.writer(handle).writerow(["" if line is None else line, 1, *fields, message])

    def finish(self, import_id: int, real) -> None:
        """Move the file to rejected/<import_id>.csv, with real line numbers, in file order."""
        target = self.folder / f"{int(import_id)}.csv"
        target.unlink(missing_ok=True)
        if self.tmp is None:
            return
        frame = pd.read_csv(self.tmp, dtype=str, keep_default_na=False)
        prov = (frame["_real"] == "0").to_numpy()
        if prov.any():
            frame.loc[prov, "row"] = real(frame.loc[prov, "row"].astype(np.int64)).astype(str)
        frame = frame.drop(columns=["_real"]).sort_values(
            "row", kind="stable", key=lambda s: pd.to_numeric(s, errors="coerce"))
        frame.to_csv(self.tmp, index=False, lineterminator=csvfile.LINE_END)
        os.replace(self.tmp, target)
        self.tmp = None

    def discard(self) -> None:
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)
            self.tmp = None


def rejected_path(settings: Mapping[str, Any], import_id: int) -> Path | None:
    """Return the rejected-rows CSV of an import, or None if it had no rejected rows."""
    path = Path(settings["UPLOAD_FOLDER"]) / "rejected" / f"{int(import_id)}.csv"
    return path if path.is_file() else None


def recorded_import(conn, settings: Mapping[str, Any], slug: str,
                    import_id: int) -> tuple[dict, dict, Path | None]:
    """Return an import's dataset, its record (with the report) and its rejected-rows file.

    NotFound unless the dataset exists and the import is one of its imports.
    """
    dataset = store.get_dataset(conn, slug)
    record = store.get_import(conn, import_id, dataset)
    return dataset, record, rejected_path(settings, import_id)


def report_json(report: dict) -> dict:
    """Return the report with every value JSON-serialisable."""
    return store.as_json_safe(replace_none(report))


def replace_none(value):
    """Convert NaN/NA values inside a report to None."""
    if isinstance(value, dict):
        return {k: replace_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [replace_none(v) for v in value]
    if value is pd.NA or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return None
    return value


__all__ = ["ALIASES", "FIELDS", "Columns", "Context", "Options", "check_options", "import_file",
           "load_regions", "options_from", "parse_mapping", "preview", "rejected_path",
           "resolve_columns", "stored_upload", "transformer_for", "validate"]
