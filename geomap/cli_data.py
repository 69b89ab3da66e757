"""Data commands: ``import-csv``, ``revert-import``, ``delete-dataset``, ``add-correction``,
``export`` and ``build-copies`` (thin wrappers over ingest, corrections and store)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from . import corrections, db, exporting, ingest, store
from .errors import GeomapError
from .jsontext import plain
from .web import layers as web_layers


def _settings() -> dict:
    return dict(current_app.config)


def _import_summary(report: dict) -> str:
    lines = [
        f"Dataset {report['dataset']} is at version {report['version']} "
        f"(import {report.get('import_id')}).",
        f"{report['rows_total']:,} rows: {report['rows_imported']:,} imported, "
        f"{report['rows_updated']:,} updated, {report['rows_unchanged']:,} unchanged, "
        f"{report['rows_rejected']:,} rejected.",
    ]
    if report["regions"]:
        lines.append("Regions: " + ", ".join(f"{k} {v:,}" for k, v in report["regions"].items()))
    places = report.get("places")
    if places:
        lines.append("Located by: " + ", ".join(f"{k} {v:,}"
                                                for k, v in places["precision"].items()))
        for item in places["unplaced"][:20]:  # the reason names the closest known names
            lines.append(f"not placed: {item['value']} [{item['column']}], {item['rows']:,} "
                         f"rows: {item['reason']}")
    # Issues counted by reason with their first rows; the rejected-rows CSV has them all.
    for kind in ("errors", "warnings"):
        groups = ingest.reason_groups(report, kind)
        for group in groups[:20]:
            column = f" [{', '.join(group['columns'])}]" if group["columns"] else ""
            lines.append(f"{kind[:-1]}: {ingest.describe_group(group)}{column}")
        if len(groups) > 20:
            lines.append(f"... {len(groups) - 20} more reasons (use --json for all)")
    for item in report["warnings"]:
        if item["row"] is None:
            column = f" [{item['column']}]" if item.get("column") else ""
            lines.append(f"note: {item['message']}{column}")
    return "\n".join(lines)


@click.command("import-csv")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dataset", "slug", required=True, help="Slug of the dataset (created if new).")
@click.option("--title", default="", help="Title of a new dataset.")
@click.option("--source", default="", help="Source / credit line of a new dataset.")
@click.option("--license", "license_", default="", help="Licence of a new dataset.")
@click.option("--crs", default=None, help="CRS of the coordinates, e.g. EPSG:3978 "
                                           "(default EPSG:4326).")
@click.option("--mode", type=click.Choice(["append", "replace"]), default="append",
              show_default=True)
@click.option("--strict", is_flag=True, help="Import nothing if any row is rejected.")
@click.option("--publish", is_flag=True, help="Publish the dataset after importing.")
@click.option("--no-header", is_flag=True, help="The file has no header row (use --map N).")
@click.option("--map", "mapping", multiple=True, metavar="FIELD=COLUMN",
              help="Map a field (lat lon location occurred_at type count direction "
                   "description source_id region year fiscal_year month) to a header name or "
                   "1-based column number.")
@click.option("--sheet", default=None, metavar="NAME",
              help="The sheet of a spreadsheet (.xlsx, .xlsm, .xls, .ods) to import "
                   "(default: the first with data).")
@click.option("--key", default=None, metavar="COLUMNS",
              help="Comma-separated columns whose values identify an incident, e.g. "
                   "\"Port Code,Date,Measure\": a later file with the same key updates that "
                   "incident. Remembered by the dataset (default: its key, if any).")
@click.option("--again", is_flag=True,
              help="Append a file that was already imported into the dataset.")
@click.option("--wide", is_flag=True,
              help="A wide table: one column per month (or quarter, or year) holding counts; "
                   "each cell becomes a record.")
@click.option("--json", "as_json", is_flag=True, help="Print only the report, as JSON.")
@click.option("--user", "user_name", default="cli", show_default=True,
              help="Name recorded on the import.")
@click.option("--progress/--no-progress", default=None,
              help="Draw a progress bar on standard error (default: when it is a terminal "
                   "and --json is not given).")
@with_appcontext
def import_csv_command(path: Path, slug: str, title: str, source: str, license_: str,
                       crs: str | None, mode: str, strict: bool, publish: bool, no_header: bool,
                       mapping: tuple[str, ...], sheet: str | None, key: str | None,
                       again: bool, wide: bool, as_json: bool, user_name: str,
                       progress: bool | None) -> None:
    """Import a CSV file (or a spreadsheet's sheet) of incidents into a dataset (one
    transaction)."""
    settings = _settings()
    try:
        if not path.is_file():
            raise GeomapError(f"no such file: {path}", code="not_found")
        options = ingest.check_options(ingest.Options(
            mode=mode, strict=strict, crs=crs, header=not no_header,
            mapping=ingest.parse_mapping(mapping), title=title, source=source,
            license=license_, publish=publish, filename=path.name, sheet=sheet or None,
            again=again, key=ingest.parse_key(key), wide=wide))
        ingest_settings = ingest.Settings.from_config(settings)
        regions_obj = web_layers.join_layers()
        if progress is None:
            progress = not as_json and sys.stderr.isatty()
        with ProgressBar(progress) as bar:
            report = ingest.import_file(db.engine_for(settings["DATABASE_URL"]), path,
                                        dataset=slug, options=options,
                                        settings=ingest_settings, regions=regions_obj,
                                        user_name=user_name, progress=bar.update)
    except GeomapError as error:
        if as_json:
            # Standard output stays parseable: a rejected import's report (it has rows_total),
            # any other refusal the error object the API sends ({"error": {code, message,
            # details}}). The one-line reason still goes to standard error, exit code 1.
            if isinstance(error.details, dict) and "rows_total" in error.details:
                body = error.details
            else:
                body = error.to_dict()
            click.echo(json.dumps(plain(body), ensure_ascii=False))
        raise click.ClickException(error.message) from None
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
    else:
        click.echo(_import_summary(report))


@click.command("revert-import")
@click.argument("slug")
@click.option("--import", "import_id", type=int, default=None,
              help="The import to revert (it must be the latest; default: the latest).")
@with_appcontext
def revert_import_command(slug: str, import_id: int | None) -> None:
    """Revert a dataset's latest import: its added rows go, rows it updated or replaced come
    back as they were."""
    try:
        done = ingest.revert_import(db.engine_for(_settings()["DATABASE_URL"]), slug,
                                    import_id)
    except GeomapError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"Reverted import {done['import_id']} of dataset {slug}: removed "
               f"{done['removed']:,} rows, restored {done['restored']:,}; now at version "
               f"{done['version']}.")


@click.command("delete-dataset")
@click.argument("slug")
@click.option("--yes", is_flag=True, help="Confirm: delete the dataset and its incidents.")
@with_appcontext
def delete_dataset_command(slug: str, yes: bool) -> None:
    """Delete a dataset and its incidents (its imports' records are kept; prune-uploads then
    removes their files)."""
    if not yes:
        raise click.ClickException(f"this deletes dataset {slug} and all its incidents; "
                                   "add --yes to confirm")
    try:
        done = ingest.delete_dataset(db.engine_for(_settings()["DATABASE_URL"]), slug)
    except GeomapError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"Deleted dataset {slug} ({done['incidents']:,} incidents); the records of "
               f"its {done['imports']} import(s) are kept. Run prune-uploads to remove its "
               "files.")
@click.command("add-correction")
@click.argument("slug")
@click.option("--what", required=True, help="What changed in the data (shown to readers).")
@click.option("--why", default="", help="Why it changed (optional).")
@click.option("--date", "date", default="", help="The correction's date, YYYY-MM-DD "
              "(default: today, UTC).")
@click.option("--import", "import_id", default="",
              help="The number of the import that made the change (optional).")
@with_appcontext
def add_correction_command(slug: str, what: str, why: str, date: str, import_id: str) -> None:
    """Add a dated entry to a dataset's corrections log (its map page lists them, its embed
    shows the latest)."""
    try:
        entry = corrections.add(db.engine_for(_settings()["DATABASE_URL"]), slug,
                                {"what": what, "why": why, "date": date,
                                 "import_id": import_id})
    except GeomapError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"Added the correction of {entry['corrected_on'].isoformat()} to dataset "
               f"{slug}'s log; now at version {entry['version']}.")


class ProgressBar:
    """click's progress bar on standard error over an import's rows (`ingest.import_file`'s
    progress callback); does nothing when not `enabled`."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None
        self.shown = 0

    def __enter__(self) -> "ProgressBar":
        return self

    def update(self, counts: dict) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            self.bar = click.progressbar(length=max(int(counts["rows_expected"]), 1),
                                         label="Importing", show_pos=True, show_percent=True,
                                         show_eta=True,
                                         file=sys.stderr)
            self.bar.__enter__()
        step = min(int(counts["rows_read"]), self.bar.length) - self.shown
        if step > 0:
            self.bar.update(step)
            self.shown += step
        if counts["phase"] == "finishing":
            self.bar.label = "Finishing"
            self.bar.render_progress()

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@click.command("export")
@click.option("--dataset", "slug", required=True, help="Slug of the dataset.")
@click.option("--format", "fmt", type=click.Choice(exporting.FORMATS), required=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write (default: standard output; required for gpkg).")
@with_appcontext
def export_command(slug: str, fmt: str, output: Path | None) -> None:
    """Export a dataset's incidents as CSV, GeoJSON or GeoPackage."""
    settings = _settings()
    if fmt == "gpkg" and output is None:
        raise click.ClickException("--output is required for gpkg")
    try:
        with db.engine_for(settings["DATABASE_URL"]).connect() as conn:
            if output is None:
                out = sys.stdout
                for chunk in exporting.stream(conn, slug, fmt, published_only=False):
                    out.write(chunk)
                out.flush()
                return
            n = exporting.write_file(conn, slug, fmt, output)
    except GeomapError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"Wrote {n:,} incidents to {output}.", err=True)


@click.command("build-copies")
@click.argument("slugs", nargs=-1)
@with_appcontext
def build_copies_command(slugs: tuple[str, ...]) -> None:
    """Build the columnar copies maps and stats read (of every dataset, or the SLUGS given)
    in this server's folder, now: a new app server warms its copies before taking traffic.
    Copies already there are kept; those of deleted datasets are removed."""
    from .web.columnar import copies_for

    copies = copies_for(current_app)
    if copies is None:
        raise click.ClickException("columnar copies are off (GEOMAP_COLUMNAR=false)")
    try:
        with db.engine_for(current_app.config["DATABASE_URL"]).connect() as conn:
            datasets = ([store.get_dataset(conn, slug) for slug in slugs] if slugs
                        else store.list_datasets(conn, published_only=False))
    except GeomapError as error:
        raise click.ClickException(error.message) from None
    for dataset in datasets:
        path = copies.build_now(dataset["id"])
        click.echo(f"{dataset['slug']}: {path.name if path else 'being built elsewhere'}")
    click.echo(f"Removed {copies.prune_deleted()} copy file(s) of deleted datasets.")


COMMANDS = (import_csv_command, revert_import_command, delete_dataset_command,
            add_correction_command, export_command, build_copies_command)
