"""CSV ingest: a file (CSV, spreadsheet, compressed) -> validated incidents -> regions -> store,
in one transaction.

Callers use ``from geomap import ingest`` and the names below; the modules hold them by
subject, and import one way (each only from those listed after it):

- `previewing`: `preview` (how a file is read; with a `Check`, a dry run of the import's
  validation counting the rows it would keep and reject by reason, nothing written)
- `pipeline`: `import_file` (and `import_frame`, an in-memory frame through it),
  `stored_upload`: receive -> sniff -> resolve columns
  -> [per block: parse cells -> validate -> assign regions -> hash -> dedupe/upsert ->
  write] -> report -> record the import
- `undo`: `revert_import` (the latest import) and `delete_dataset`, for the doors: one
  transaction, the dataset locked, the actor checked
- `storing`: dedupe, upsert and bulk writes of validated blocks, on one writer thread
- `report`: issues (capped), real line numbers, the report, the rejected-rows file
- `options`: `Options`, `options_from`, `parse_mapping`, `parse_key`, `check_options`
- `identity`: natural keys (`settle_key`, `natural_ids`) and refusing a file imported
  before (`refuse_reimport`, `AlreadyImported`)
- `rows`: per-row rules (`validate`), the region join
- `placing`: rows without coordinates located by a named place, sector or state/province
  (`locate`, `PlaceTally`: the report's ``places``)
- `crs`: the CRS check and its cached transformer (`transformer_for`)
- `columns`: the fields, their header aliases, `resolve_columns`
- `cells`: vectorised parsers of numbers, locations and dates
- `reading`: the streaming `Reader` (blocks of string cells, line numbers)
- `sniffing`: binary refusals, encoding, delimiter, columns (`Layout`)
- `spreadsheets`: compressed uploads (`compressed`) and workbooks: one sheet as CSV text
  (`to_csv`: header row, notes, cells as text), the sheets with their rows
- `sharing`: the shared copies of uploads and rejected rows (`Settings.storage`)
- `receiving`: copying a file into the upload folder (hash, UTF-8 check, newlines)
- `structure`: structure rules pyarrow does not apply (row width, open quotes, U+0000)
- `uploads`: the upload folder's pruning (`prune_uploads`, ``flask prune-uploads``)
- `settings`: `Settings`, what ingest reads of the configuration (`Settings.from_config`)
- `doors`: what a message tells the user to do, in the terms of their door (form, API, CLI)

CSV *output* (formula-safe cells, CRLF) is `geomap.csv_output`. No module imports Flask.
"""

from .settings import Settings
from .uploads import Pruned, prune as prune_uploads
from .columns import ALIASES, FIELDS, Columns, resolve_columns
from .rows import Context, load_regions, transformer_for, validate
from .options import MODES, Options, check_options, options_from, parse_key, parse_mapping
from .identity import AlreadyImported, refuse_reimport_into, reimport_status
from .report import (IssueLog, describe_group, original_file, reason_groups, recorded_import,
                     rejected_path, report_json)
from . import doors
from .pipeline import import_file, import_frame, stored_upload
from .previewing import Check, preview
from .undo import delete_dataset, revert_import

__all__ = [
    "Settings",
    "Pruned", "prune_uploads",
    "ALIASES", "FIELDS", "Columns", "resolve_columns",
    "Context", "load_regions", "transformer_for", "validate",
    "MODES", "Options", "check_options", "options_from", "parse_key", "parse_mapping",
    "AlreadyImported", "refuse_reimport_into", "reimport_status",
    "IssueLog", "describe_group", "original_file", "reason_groups", "recorded_import",
    "rejected_path", "report_json",
    "doors", "import_file", "import_frame", "stored_upload", "Check", "preview",
    "delete_dataset", "revert_import",
]
