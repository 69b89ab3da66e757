"""CSV ingest: a file -> validated incidents -> regions -> store, in one transaction.

One pipeline serves the upload form, ``flask import-csv`` and ``POST /api/.../incidents``:

    receive -> sniff -> resolve columns -> [per block: parse cells -> validate -> assign regions
    -> hash -> dedupe/upsert -> write] -> report -> record the import

`import_file` reads as that pipeline (`import_frame` takes an in-memory frame through it):
`_layout` (sniff) and `_context` (columns, CRS), then `_transaction` runs, in one
transaction, `_open_import` (lock the dataset, check the actor, record the import),
`_store_blocks` (`_validate_block` on this thread, each block stored on the writer
thread), `_report` (the report; refusals roll back) and `_finish` (`_record_changes`
through `store.incidents_changed`, then the import's record).

Files are streamed in blocks (`reading`), so memory does not grow with the file. The
whole import is one database transaction (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: the
dataset row is locked ``FOR UPDATE``), so concurrent imports into one dataset queue, and
readers see all of an import or none of it. This module never imports Flask.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import IO, Any, Callable

import pandas as pd
import sqlalchemy as sa

from . import identity, storing
from .columns import note, resolve_columns, shown_fields
from .options import Options, check_options
from .reading import Reader
from .receiving import Received, discard, keep, receive
from .report import (IssueLog, RejectedWriter, add_malformed, build_report, line_mapper,
                     report_json, to_lines)
from .rows import Context, transformer_for, validate
from .settings import Settings
from .sniffing import DELIMITER_NAMES, Layout, detect_encoding, refuse_binary, sniff
from . import sharing, spreadsheets
from .storing import BlockWriter, store_job
from .. import access, db, store
from ..errors import BadRequest, GeomapError, TooLarge, Unprocessable


# --- the pipeline -----------------------------------------------------------------------------

def import_file(engine: sa.Engine, source: str | os.PathLike | IO[bytes], *, dataset: str,
                options: Options, settings: Settings, regions: Any,
                user_name: str | None = None, actor: access.Actor | None = access.OPERATOR,
                progress: Callable[[dict], None] | None = None) -> dict:
    """Import a CSV file of incidents into a dataset, in one transaction.

    Parameters
    ----------
    engine : sqlalchemy.Engine
    source : path or binary stream
        The CSV file. It is copied into ``settings.upload_folder`` under its sha256 and
        kept there for audit and replay.
    dataset : str
        Slug of the dataset; created (from the options' title, source, licence) if missing.
    options : Options
    settings : Settings
        The upload folder and the border distances (`Settings.from_config`).
    regions : object
        The loaded region layers (`load_regions`; the web and CLI doors pass the app's), or
        any join with `assign` and `normalise_region` (`rows.RegionJoin`; tests pass a fake).
    user_name : str, optional
        Recorded on the import.
    actor : access.Actor, optional
        Who imports: they must be allowed to write an existing dataset (checked in the
        import's transaction, `access.claim_import`) and own a dataset the import creates.
        The default is the operator (command line, sample); web views pass their user, and
        None (nobody signed in) is refused.
    progress : callable, optional
        Called on this thread with a dict of ``phase`` (``reading`` while blocks are read,
        joined and written, ``finishing`` for the report, rollups and commit) and the counts
        ``rows_expected`` (the file's lines, an estimate), ``rows_read``, ``rows_joined``
        (validated, regions assigned) and ``rows_written`` (imported, updated or unchanged),
        after each block (background jobs show it; the CLI draws a bar).

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
    received = receive(source, settings.upload_folder)
    temps: list[Received] = []
    try:
        table, sheet = _tabular(received, options, settings, temps)
        layout = _layout(table, options)
        ctx = _context(layout, options, settings, regions)
        if sheet:
            ctx.file_notes.append(note(
                f"read sheet {sheet['sheet']!r} of the workbook (header in row "
                f"{sheet['header_row']}); row numbers are the sheet's rows"))
        with db.busy_is_conflict(dataset, "another import is writing to the database; try "
                                 "again when it has finished"):
            job = _Import(table, layout, ctx, dataset, received,
                          sheet=sheet)
            job.progress = progress
            report = _transaction(engine, job, user_name, actor)
    except BaseException:
        discard(received)
        raise
    finally:
        for temp in temps:
            discard(temp)
    return report


def _tabular(received: Received, options: Options, settings: Settings,
             temps: list[Received]) -> tuple[Received, dict | None]:
    """The received file as CSV: itself, the content of a compressed file (``.csv.gz``, a
    ``.zip`` of one file), or a spreadsheet's sheet written as UTF-8 CSV, with what
    `spreadsheets.to_csv` says about the sheets. Files made here are temporary files beside
    the upload, listed in `temps` for the caller to discard; the upload is what is kept and
    recorded."""
    table = received
    stream = spreadsheets.compressed(received.path, received.head)
    if stream is not None:
        limit = spreadsheets.MAX_EXPANDED_BYTES
        try:
            with stream:
                table = receive(stream, settings.upload_folder, max_bytes=limit)
        except TooLarge:
            raise Unprocessable(f"the compressed file expands to more than "
                                f"{limit / 2**20:g} MB") from None
        except spreadsheets.DAMAGED as exc:
            raise spreadsheets.damaged(exc) from None
        temps.append(table)
    if not spreadsheets.is_workbook(table.head):
        return table, None
    data, info = spreadsheets.to_csv(table.path, options.sheet)
    temps.append(receive(io.BytesIO(data), settings.upload_folder))
    return temps[-1], info


def import_frame(engine: sa.Engine, frame: pd.DataFrame, *, dataset: str, options: Options,
                 settings: Settings, regions: Any, user_name: str | None = None,
                 actor: access.Actor | None = access.OPERATOR) -> dict:
    """Import an in-memory frame of incidents into a dataset, through `import_file`.

    The frame's columns are read as a file's header (fields by their names or aliases, the
    rest kept as attributes); it is written as UTF-8 CSV (floats as ``repr``, so values
    round-trip) and imported by `import_file`, so it takes the one write path: validation,
    region join, dedupe, write, report, `store.incidents_changed`, and its CSV is kept in
    the upload folder like an uploaded file. Parameters, result and errors are
    `import_file`'s.
    """
    text = frame.to_csv(index=False, lineterminator="\n")
    return import_file(engine, io.BytesIO(text.encode("utf-8")), dataset=dataset,
                       options=options, settings=settings, regions=regions,
                       user_name=user_name, actor=actor)


def _layout(received: Received, options: Options) -> Layout:
    """Refuse binary files and sniff the encoding, delimiter and columns from the head."""
    refuse_binary(received.head, received.size)
    encoding = detect_encoding(received.head, received.utf8)
    return sniff(received.head, encoding, header=options.header)


def _context(layout: Layout, options: Options, settings: Settings, regions: Any) -> Context:
    """What every block needs: the resolved columns, the CRS transformer, one "now" per file."""
    columns = resolve_columns(layout.columns, options.mapping, header=options.header,
                              wide=options.wide, door=options.door)
    return Context(columns=columns, options=options, settings=settings, regions=regions,
                   transformer=transformer_for(options.crs) if options.crs else None,
                   now=store.utcnow(), file_notes=list(columns.notes))


_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


def stored_upload(settings: Settings, sha256: str) -> Path:
    """Return the path of a file kept by `preview`, given its sha256 (validated, never a path).

    A preview made on another server is fetched from the shared store into this server's
    upload folder (`sharing.local_copy`)."""
    if not isinstance(sha256, str) or not _SHA_RE.match(sha256):
        raise BadRequest("the uploaded file reference is not valid; upload the file again")
    name = f"{sha256}.csv"
    path = sharing.local_copy(settings, sharing.upload_key(name),
                              Path(settings.upload_folder) / name)
    if path is None:
        raise BadRequest("the uploaded file is no longer available; upload it again")
    return path


class _Import:
    """One import's state, shared by its steps: the file, its reader, totals and issues."""

    def __init__(self, received: Received, layout: Layout, ctx: Context, slug: str,
                 original: Received | None = None, sheet: dict | None = None):
        self.received, self.layout, self.ctx, self.slug = received, layout, ctx, slug
        # The file as uploaded (a spreadsheet, where `received` is its sheet as CSV): its
        # sha256 and size are recorded, and it is the file kept.
        self.original = original or received
        self.sheet = sheet  # a workbook's sheet read as CSV: report its rows, not CSV lines
        self.reader = Reader(received, layout)
        self.totals = storing.Totals()
        self.rejected = RejectedWriter(Path(ctx.settings.upload_folder), layout.columns)
        self.errors = IssueLog()
        self.warnings = IssueLog()
        self.dataset: dict = {}
        self.created = False
        self.removed = 0
        self.key: list[str] | None = None  # the natural key's columns, if keyed
        self.import_id: int | None = None
        self.real = None  # the report's line mapper, once every block is read
        self.progress: Callable[[dict], None] | None = None
        self.rows_read = self.rows_joined = 0
        # Records expected: the file's lines, less the header (quoted newlines overcount).
        self.rows_expected = max(received.newlines + (received.last_byte not in (b"\n", b""))
                                 - (1 if layout.header else 0), 0)

    def tell(self, phase: str) -> None:
        """Report progress to the caller's `progress` callback, if any."""
        if self.progress is None:
            return
        totals = self.totals
        self.progress({"phase": phase, "rows_expected": self.rows_expected,
                       "rows_read": self.rows_read, "rows_joined": self.rows_joined,
                       "rows_written": totals.imported + totals.updated + totals.unchanged})


def _transaction(engine, job: _Import, user_name, actor) -> dict:
    """Run the import's one transaction: open, store the blocks, report, record the changes."""
    try:
        cache_mb = job.ctx.settings.import_cache_mb
        with db.write_connection(engine) as conn, storing.big_cache(conn, cache_mb), \
                conn.begin():
            _open_import(conn, job, user_name, actor)
            _store_blocks(conn, job)
            report = _report(job)
            report = _finish(conn, job, report)
    finally:
        job.reader.close()
        job.rejected.discard()
    return report


def _open_import(conn, job: _Import, user_name, actor) -> None:
    """Lock (or create) the dataset, check the actor may write it, empty it if replacing,
    and record the import (the rows written point at it)."""
    options = job.ctx.options
    job.dataset, job.created = store.lock_dataset(
        conn, job.slug, options.title or job.slug, source=options.source,
        license=options.license, description=options.description)
    access.claim_import(conn, actor, job.dataset, job.created)
    identity.refuse_reimport(conn, job.dataset, job.original.sha256, options)
    totals = job.totals
    totals.empty = (options.mode == "replace"
                    or store.count_incidents(conn, job.dataset["id"]) == 0)
    job.key = identity.settle_key(conn, job.dataset, options, job.layout.columns,
                                  job.layout.header, empty=totals.empty)
    job.import_id = store.record_import(
        conn, job.dataset["id"], user_name=user_name, filename=options.filename[:300],
        sha256=job.original.sha256, size_bytes=job.original.size, mode=options.mode,
        dataset_slug=job.slug, natural_key=job.key)
    if options.mode == "replace":
        # What it replaces is kept, so that the import can be reverted (store.history).
        store.supersede(conn, job.dataset["id"], job.import_id)
        job.removed = store.delete_incidents(conn, job.dataset["id"])
    # Rollups of the rows written: the whole of an empty dataset's, else what an
    # append adds to the existing ones (dropped if a row is rewritten).
    totals.rollup = store.RollupAccumulator(delta=not totals.empty)


def _store_blocks(conn, job: _Import) -> None:
    """Validate each block on this thread and store it (hash, dedupe, write) on the writer
    thread, so that parsing the next block overlaps the database's work."""
    bulk = storing.BulkIndexes(conn, job.received.newlines, job.totals.empty,
                               job.ctx.settings.import_cache_mb)
    # The writer alone uses the connection until it is closed, so the transaction and its
    # order of writes are those of storing the blocks one after the other.
    hash_here = conn.dialect.name == "postgresql"
    strict = job.ctx.options.strict
    totals = job.totals
    with store.IncidentWriter(conn) as totals.writer, BlockWriter() as writer:
        job.tell("reading")
        for batch in job.reader:
            rows, warnings = _validate_block(job, batch)
            job.rows_read += len(batch.frame)
            job.rows_joined += len(rows)
            write = not (strict and totals.rejected)
            if hash_here and len(rows):
                # PostgreSQL: the writer mostly waits for the server, so the
                # content hash (no database needed) is computed on this thread.
                store.add_row_hashes(rows)
            writer.submit(store_job(conn, job.dataset["id"], job.import_id, rows, batch,
                                     totals, to_lines(warnings.frame(), batch),
                                     job.warnings, write))
            job.tell("reading")
    bulk.restore()
    job.tell("finishing")


def _validate_block(job: _Import, batch) -> tuple[pd.DataFrame, Any]:
    """Turn a block's cells into incident rows (regions joined); log its errors, the
    reader's structural ones included, and keep its rejected lines for the rejected file."""
    rows, errors, warnings = validate(batch.frame, job.ctx)
    errs = errors.frame()
    if job.key:  # the natural key's values are the rows' identity (source_id)
        ids, empty = identity.natural_ids(batch.frame, job.key)
        rows["source_id"] = ids.to_numpy()[rows["record"].to_numpy()]
        if len(empty):
            errs = pd.concat([errs, empty], ignore_index=True).sort_values("record",
                                                                           kind="stable")
    # Rows with structural errors (too many fields, U+0000) or an empty key cell go.
    for refused in (batch.errors, errs if job.key else None):
        if refused is not None and len(refused):
            rows = rows[~rows["record"].isin(refused["record"])].reset_index(drop=True)
    if batch.errors is not None:
        errs = pd.concat([batch.errors, errs], ignore_index=True)
    structural = 0 if batch.errors is None else int(batch.errors["record"].nunique())
    errs = to_lines(errs, batch)
    if len(errs):
        job.totals.rejected += (int(errs["line"].nunique()) if errors.rejected_records is None
                                else structural + errors.rejected_records)
        job.rejected.add(batch, errs)
    job.errors.append(errs)
    return rows, warnings


def _report(job: _Import) -> dict:
    """Build the report (malformed records and real line numbers included) and refuse,
    rolling back, a strict import with rejections or a mostly rejected file."""
    add_malformed(job.reader, job.layout, job.errors, job.rejected, job.totals)
    job.real = line_mapper(job.reader, job.layout)
    if job.sheet:  # a spreadsheet's sheet: lines of its CSV -> rows of the sheet
        in_csv, sheet = job.real, job.sheet
        job.real = lambda values: spreadsheets.sheet_rows(sheet, in_csv(values))
    report = build_report(job.slug, job.totals, job.errors, job.warnings, job.ctx, job.real)
    refused = _refusal(job.totals, job.ctx.options, report)
    if refused is not None:
        raise refused
    return report


def _record_changes(conn, job: _Import) -> int:
    """Pass a change of the dataset's incidents (or its publication) through the one door,
    store.incidents_changed, and return the dataset's version."""
    totals = job.totals
    changed = totals.imported + totals.updated + job.removed > 0
    publish = job.ctx.options.publish and not job.dataset["published"]
    if not (changed or publish):
        return job.dataset["version"]
    # The one door (version, rollups, publication); the rollups from the rows as written
    # when they are the whole dataset or all it gained (the same as a rebuild from the
    # table, without scanning it).
    return store.incidents_changed(conn, job.dataset, totals.rollup,
                                   created=job.created, publish=publish)


def _finish(conn, job: _Import, report: dict) -> dict:
    """Record the changes, complete the report, keep the file and the rejected rows,
    and close the import's record with its counts and report."""
    report["version"] = _record_changes(conn, job)
    report["import_id"] = job.import_id
    if report["rows_total"] == 0:
        report["warnings"].append(note("the file has no data rows"))
    report = report_json(report)
    job.rejected.finish(job.import_id, job.real)
    keep(job.original)
    _share(conn, job)
    totals = job.totals
    # Only the latest import that superseded rows keeps its copies (undo of the latest).
    superseded = store.keep_undo_of(conn, job.dataset["id"], job.import_id)
    store.finish_import(
        conn, job.import_id, stored_path=job.original.path.name, rows_superseded=superseded,
        rows_total=report["rows_total"], rows_imported=totals.imported,
        rows_updated=totals.updated, rows_unchanged=totals.unchanged,
        rows_rejected=totals.rejected, report=report)
    return report


def _share(conn, job: _Import) -> None:
    """Put the original file and the rejected rows in the shared store, in the import's
    transaction when the store is the database (both commit with the import, or neither)."""
    settings = job.ctx.settings
    original = job.original.path
    sharing.share(settings, sharing.upload_key(original.name), original, conn=conn)
    rejected = Path(settings.upload_folder) / "rejected" / f"{job.import_id}.csv"
    if rejected.is_file():
        sharing.share(settings, sharing.rejected_key(job.import_id), rejected, conn=conn,
                      replace=True)


def _refusal(totals: "storing.Totals", options: Options, report: dict) -> Unprocessable | None:
    """The Unprocessable an import raises (the transaction rolls back) when it is strict and
    rejected rows, or the file is mostly rejected; None when it goes ahead. The preview's
    check (`previewing`) says the same before anything is written.

    A strict import imports nothing if any row is rejected. An import whose every row was
    rejected would only create or leave an empty import (an
    empty new dataset, a "success" with nothing in it); a replace that rejects more than half
    of the file would swap a published dataset for a fraction of it, usually because the
    file is not what it seems. Both are refused with the report in the error's details, and
    the dataset stays exactly as it was.
    """
    accepted = totals.imported + totals.updated + totals.unchanged
    rejected = totals.rejected
    if not rejected:
        return None
    if options.strict:
        return Unprocessable(f"strict mode: {rejected} row(s) rejected, nothing was imported",
                             details=report_json(report))
    if not accepted:
        where = ("the dataset was left as it was" if options.mode == "replace"
                 else "nothing was imported")
        return Unprocessable(f"none of the file's {rejected} row(s) could be imported, so "
                             f"{where}; see the errors", details=report_json(report))
    if options.mode == "replace" and rejected * 2 > rejected + accepted:
        return Unprocessable(
            f"replace mode: {rejected} of the file's {rejected + accepted} rows were rejected "
            "(more than half), so the dataset was left as it was; fix the file (see the "
            "errors) or import it in append mode", details=report_json(report))
    return None
