"""What a message tells the user to do, in the terms of the door they came through.

The same refusal reaches people through three doors: the upload form (selects and boxes on
the preview), the write API (query parameters) and ``flask import-csv`` (options). A message
that says what to do names that door's control: the form's column mapping, never
``--map lat=N``; the CLI's ``--again``, never a box to tick. This module is the one home of
that wording; `Options.door` says which door an import or preview came through (the CLI's,
unless a door says otherwise). Imports nothing; no Flask.
"""

from __future__ import annotations

WEB, API, CLI = "web", "api", "cli"
DOORS = (WEB, API, CLI)


def map_columns(door: str, fields: tuple[str, ...], *, header: bool) -> str:
    """How to map `fields` (geomap field names) to the file's columns: by number without a
    header row, else by name."""
    column = "COLUMN" if header else "N"
    if door == WEB:
        names = {"lat": "latitude", "lon": "longitude", "occurred_at": "date",
                 "location": "location"}
        shown = ", ".join(names.get(f, f) for f in fields)
        return f"choose the {shown} column{'s' if len(fields) > 1 else ''} in the column mapping"
    if door == API:
        return "map them with " + "&".join(f"map_{f}={column}" for f in fields)
    return "map them with " + " ".join(f"--map {f}={column}" for f in fields)


def no_header(door: str) -> str:
    """How to say the file has no header row."""
    if door == WEB:
        return "tick “The file has no header row”"
    if door == API:
        return "send no_header=1"
    return "add --no-header"


def import_again(door: str) -> str:
    """How to confirm importing a file the dataset already holds, or replace instead."""
    if door == WEB:
        return "tick “Import it again” to import it anyway, or choose replace mode"
    if door == API:
        return "send again=1 to import it anyway, or mode=replace"
    return "add --again to import it anyway, or use --mode replace"
