"""Import options: what the caller asked for, built from strings and validated.

`Options` is what every door (form, API, CLI) passes to `pipeline.import_file` and
`previewing.preview`; `options_from` builds it from query or form strings, `parse_mapping`
from the CLI's ``--map FIELD=COLUMN``, and `check_options` validates it (the CRS through
`rows.transformer_for`, so PROJ never sees a definition that names a file). No Flask.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from . import doors
from .columns import FIELDS
from .rows import transformer_for
from ..errors import BadRequest

MODES = ("append", "replace")


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
    sheet : str or None
        The sheet of a spreadsheet to read (None: the first with data); unused for CSV.
    wide : bool
        The table has one column per month (or quarter, or year) holding counts: each cell
        becomes a record (`wide.unpivot`).
    filename : str
        The uploaded file's name, recorded for the audit trail only (never used as a path).
    again : bool
        Append a file whose sha256 was already imported into the dataset (refused without).
    key : tuple of str or None
        The columns whose values identify an incident (natural key, by name or, without a
        header row, by 1-based number); None: the dataset's remembered key, if any.
    door : {'cli', 'api', 'web'}
        The door the request came through: messages that say what to do name its
        controls (`doors`).
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
    sheet: str | None = None
    again: bool = False
    key: tuple[str, ...] | None = None
    wide: bool = False
    door: str = doors.CLI


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


def parse_key(raw: Any) -> tuple[str, ...] | None:
    """Parse a natural key: ``"Port Code,Date,Measure"`` or a list of column names (form
    checkboxes); None or nothing in it: no key given."""
    if raw is None:
        return None
    items = [raw] if isinstance(raw, str) else list(raw)
    names = tuple(part.strip() for item in items for part in str(item).split(",")
                  if part.strip())
    return names or None


def options_from(values: Mapping[str, Any], *, door: str = doors.API) -> Options:
    """Build Options from strings (query parameters, form fields), validating each one.

    Recognised keys: mode, strict, crs, no_header, title, source, license, description,
    publish, filename, sheet, again, key (comma-separated, or a list of column names), wide,
    and ``map_<field>`` (or ``map`` as a list of FIELD=COLUMN). `door`: the API's, unless
    the upload form says it is the web's.
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
        publish=flag("publish"), filename=str(values.get("filename") or "")[:300],
        sheet=(str(values.get("sheet") or "").strip() or None),
        again=flag("again"), key=parse_key(values.get("key")), wide=flag("wide"),
        door=door))


def check_options(options: Options) -> Options:
    """Validate options; raise BadRequest naming the bad one."""
    if options.door not in doors.DOORS:
        raise BadRequest(f"door must be one of {', '.join(doors.DOORS)}")
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
    if options.sheet is not None and len(options.sheet) > 200:
        raise BadRequest("sheet is longer than 200 characters", details={"field": "sheet"})
    for name in ("title", "source", "license", "description", "sheet"):
        if "\x00" in (getattr(options, name) or ""):
            raise BadRequest(f"{name} contains a NUL character (U+0000)",
                             details={"field": name})
    if options.key is not None:
        options = dataclasses.replace(options, key=parse_key(options.key))
    if options.key is not None:
        if len(options.key) > 20 or any(len(k) > 300 or "\x00" in k for k in options.key):
            raise BadRequest("key must be at most 20 column names of up to 300 characters",
                             details={"field": "key"})
    if "\x00" in options.filename:  # the client's file name, kept for the audit trail only
        options = dataclasses.replace(options, filename=options.filename.replace("\x00", ""))
    return options
