"""Before an import: how a file will be read, and what importing it would keep and reject.

`preview` keeps the file (under its sha256, shared with every server) and describes how it
is read: sheet, encoding, delimiter, columns, the fields detected or mapped, the first rows.
Given a `Check`, it also runs the import's own validation over the kept file without
writing anything (`pipeline._validate_block`: the per-row rules, the natural key, the region
join; then the import's report and refusals, `report.build_report`, `pipeline._refusal`), so
the rows it says would be kept and rejected, counted by reason, are the import's, with no
second copy of the rules. The dry run stops after `Check.max_rows` rows and then says it
counted a sample. Duplicates are not looked up: a kept row may still be found unchanged or
updated when imported (counted apart in the import's report).

It is `pipeline`'s other half (split for size) and uses its steps; no Flask.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from . import identity, sharing, spreadsheets
from .columns import header_looks_like_data, resolve_columns, shown_fields
from .options import Options, check_options
from .pipeline import _context, _Import, _layout, _refusal, _tabular, _validate_block
from .reading import Batch
from .receiving import discard, keep, receive
from .report import add_malformed, build_report, by_reason, line_mapper, to_lines
from .settings import Settings
from .sniffing import DELIMITER_NAMES
from ..errors import GeomapError


@dataclass(frozen=True)
class Check:
    """Ask `preview` for a dry run of the import.

    Attributes
    ----------
    regions : object
        The region layers or join, as `pipeline.import_file` takes them.
    key : list of str or None
        The natural key the import would use when the options name none (the dataset's
        remembered key, `identity.reimport_status`).
    max_rows : int or None
        Check at most this many records (None: the whole file).
    """

    regions: Any
    key: list[str] | None = None
    max_rows: int | None = None


def preview(source: str | os.PathLike | IO[bytes], options: Options, settings: Settings,
            rows: int = 10, *, check: Check | None = None, guess_header: bool = False,
            lenient: bool = False) -> dict:
    """Describe how a file would be read, without importing it.

    The file is kept in the upload folder under its sha256, which the caller passes back to
    import it (`stored_upload`).

    Parameters
    ----------
    source : path or binary stream
    options : Options
    settings : Settings
    rows : int
        How many first records to show.
    check : Check, optional
        Also count the rows the import would keep and reject (``check`` in the result).
    guess_header : bool
        When the options say the file has a header row but its first row looks like data
        (`columns.header_looks_like_data`), read it without one (``header_guessed``).
    lenient : bool
        A mapping that finds no usable columns is returned as ``problem`` (the error) with
        no fields, instead of raised, so that the caller can show the columns to map.

    Returns
    -------
    dict
        ``sha256``, ``size``, ``encoding``, ``delimiter``, ``sheet`` and ``sheets`` (a
        spreadsheet's chosen sheet and its sheets with their data rows; None for CSV),
        ``header`` (whether the first row was read as a header), ``header_guessed``,
        ``columns`` (names), ``fields`` (FIELD -> column), ``notes``, ``rows`` (the first
        records as lists of strings), ``lines`` (each one's line number in the file, or row
        in the sheet, as the report's ``row`` counts), ``problem`` (None, or the error of
        a lenient preview) and ``check`` (None, or what `_dry_run` returns).
    """
    options = check_options(options)
    received = receive(source, settings.upload_folder)
    table, sheet, temps = received, None, []
    problem, columns, checked = None, None, None
    try:
        table, sheet = _tabular(received, options, settings, temps)
        layout = _layout(table, options)
        guessed = guess_header and options.header and header_looks_like_data(layout.columns)
        if guessed:
            options = dataclasses.replace(options, header=False)
            layout = _layout(table, options)
        try:
            columns = resolve_columns(layout.columns, options.mapping, header=options.header,
                                      wide=options.wide, door=options.door)
            if check is not None:
                checked = _dry_run(table, layout, options, settings, check, sheet)
        except GeomapError as error:
            if not lenient:
                raise
            problem = error
    except GeomapError as error:
        discard(received)
        error.details = {**(error.details or {}), "columns": _safe_columns(table, options)}
        raise
    finally:
        for temp in temps:
            discard(temp)
    keep(received)
    # Any server may import it: the shared store holds it from now on.
    sharing.share(settings, sharing.upload_key(received.path.name), received.path)
    return {"sha256": received.sha256, "size": received.size, "encoding": layout.encoding,
            "sheet": sheet and sheet["sheet"], "sheets": sheet and sheet["sheets"],
            "delimiter": DELIMITER_NAMES.get(layout.delimiter, layout.delimiter),
            "header": layout.header, "header_guessed": bool(guessed),
            "columns": layout.columns,
            "fields": shown_fields(columns) if columns is not None else {},
            "notes": [n["message"] for n in columns.notes] if columns is not None else [],
            "rows": [r[:len(layout.columns)] for r in layout.sample[:rows]],
            "lines": [int(line) for line in (
                spreadsheets.sheet_rows(sheet, layout.sample_lines[:rows]) if sheet
                else layout.sample_lines[:rows])],
            "problem": problem, "check": checked}


def _safe_columns(received, options) -> list[str]:
    if spreadsheets.is_workbook(received.head):
        return []
    try:
        return _layout(received, options).columns
    except GeomapError:
        return []


class _Uncollected:
    """Stands in for the rejected-rows file: a dry run writes nothing."""

    def add(self, *args) -> None:
        pass

    add_raw = add


def _dry_run(table, layout, options: Options, settings: Settings, check: Check,
             sheet: dict | None) -> dict:
    """Validate the file as `pipeline.import_file` would (the same steps on the same
    `_Import` state), writing nothing; stop after `Check.max_rows` records.

    Returns
    -------
    dict
        ``rows_total``, ``rows_kept`` (accepted: imported, updated or unchanged once
        imported), ``rows_rejected``, ``errors_by_reason``, ``warnings_by_reason`` (as
        the import's report), ``notes`` (file-level messages), ``places`` (rows located
        by name, if any), ``sample`` (True when the check stopped before the end),
        ``rows_expected`` (the file's records, estimated from its lines) and ``refusal``
        (the message the import would refuse with, or None).
    """
    ctx = _context(layout, options, settings, check.regions)
    shown = {n["message"] for n in ctx.file_notes}  # the preview's own notes already
    job = _Import(table, layout, ctx, "", sheet=sheet)
    asked = list(options.key) if options.key is not None else check.key
    job.key = (identity.resolve_key(layout.columns, asked, layout.header,
                                    remembered=options.key is None) if asked else None)
    job.rejected = _Uncollected()
    kept, sample = 0, False
    try:
        for batch in job.reader:
            room = None if check.max_rows is None else check.max_rows - job.rows_read
            if room is not None and len(batch.frame) > room:
                sample = True
                if room <= 0:
                    break
                batch = _head(batch, room)
            rows, warnings = _validate_block(job, batch)
            job.rows_read += len(batch.frame)
            kept += len(rows)
            job.warnings.append(to_lines(warnings.frame(), batch))
            if sample:
                break
        if sample:  # line numbers as read (exact unless records span lines)
            real = _as_read
        else:
            add_malformed(job.reader, job.layout, job.errors, job.rejected, job.totals)
            real = line_mapper(job.reader, job.layout)
        if sheet:
            in_csv = real
            real = lambda values: spreadsheets.sheet_rows(sheet, in_csv(values))  # noqa: E731
        job.totals.imported = kept  # as the import counts what it accepts (for the report)
        report = build_report("", job.totals, job.errors, job.warnings, ctx, real)
    finally:
        job.reader.close()
    refused = _refusal(job.totals, options, {})
    return {"rows_total": report["rows_total"], "rows_kept": kept,
            "rows_rejected": job.totals.rejected,
            "errors_by_reason": by_reason(job.errors, real),
            "warnings_by_reason": by_reason(job.warnings, real),
            "notes": [w["message"] for w in report["warnings"]
                      if w["row"] is None and w["message"] not in shown],
            "places": report.get("places"), "sample": sample,
            "rows_expected": job.rows_expected,
            "refusal": refused.message if refused is not None else None}


def _as_read(values):
    """Line numbers as read, one line per record (a sample's: the file was not read to its
    end, where the real ones are worked out)."""
    return np.asarray(values, dtype=np.int64)


def _head(batch: Batch, n: int) -> Batch:
    """The first `n` records of a block, with their structural errors."""
    errors = batch.errors
    if errors is not None:
        errors = errors[errors["record"] < n]
    return Batch(batch.frame.iloc[:n], batch.lines[:n], errors=errors)
