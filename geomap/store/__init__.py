"""The store: datasets, imports, incidents, rollups and content hashes on SQLite or PostgreSQL.

Callers use ``from geomap import store`` and the names below; the modules hold them by
subject, and import one way (each only from those listed after it):

- `datasets`: datasets and imports records, versions, and `incidents_changed`: the one door
  for every change of a dataset's incidents (version and rollups in step); health query
- `corrections`: a dataset's dated corrections log (entries' rules, adding, listing)
- `history`: earlier imports of a file, undo of the latest import (`supersede`,
  `revert_import`), deleting a dataset (its imports kept as the audit trail)
- `incidents`: incident queries (frame, filters as SQL, count, delete)
- `rollups`: the grid and day rollups (`RollupAccumulator`, write/refresh/replace/merge)
- `period_rollups`: the week and month rollups and the time layer's cells per period (#20)
- `bulk`: bulk writes of incidents (`IncidentWriter`, executemany / binary COPY)
- `hashing`: row content hashes
- `blobs`: shared file storage (uploads, rejected rows) in the database or an fsspec store
- `columns`: incident columns as stored, `utcnow`
- `columnar`: a dataset version's read-only columnar copy (DuckDB) that maps and stats read
  (`build_copy`, `CopyReader`, `prune_deleted`); written after a change commits, never out
  of step (#20)

Every function takes a SQLAlchemy `Connection` first; none imports Flask.
"""

from .columns import INCIDENT_COLUMNS, utcnow
from .blobs import DatabaseStorage, FsspecStorage, Storage, StoredFile, storage_for
from .hashing import HASH_COLUMNS, add_row_hashes, row_hashes
from .bulk import IncidentWriter, incident_values, insert_incidents
from .rollups import (DAY_COLUMNS, GRID_ROLLUP_CELL, RollupAccumulator, merge_rollups,
                      refresh_rollups, rollup_cell, write_rollups)
from .period_rollups import TIME_ROLLUP_CELL
from .incidents import count_incidents, delete_incidents, filter_clauses, incident_frame
from .datasets import (bump_version, changed_since, check_slug, create_dataset,
                       database_status,
                       finish_import, get_dataset, get_import, has_datasets, incidents_changed,
                       list_datasets, list_imports, lock_dataset, metadata_changed,
                       record_import, set_natural_key, set_published, update_dataset)
from .corrections import FIELDS as CORRECTION_FIELDS
from .corrections import add_correction, list_corrections, parse_correction
from .columnar import CopyReader, build_copy, copy_path, prune_deleted
from .history import (delete_dataset, describe_import, imported_before, keep_undo_of,
                      latest_import, revert_import, superseded_count, supersede)

__all__ = [
    "INCIDENT_COLUMNS", "utcnow",
    "DatabaseStorage", "FsspecStorage", "Storage", "StoredFile", "storage_for",
    "HASH_COLUMNS", "add_row_hashes", "row_hashes",
    "IncidentWriter", "incident_values", "insert_incidents",
    "DAY_COLUMNS", "GRID_ROLLUP_CELL", "RollupAccumulator", "TIME_ROLLUP_CELL",
    "merge_rollups", "refresh_rollups", "rollup_cell", "write_rollups",
    "count_incidents", "delete_incidents", "filter_clauses", "incident_frame",
    "bump_version", "changed_since", "check_slug", "create_dataset", "database_status", "finish_import",
    "get_dataset", "get_import", "has_datasets", "incidents_changed", "list_datasets",
    "list_imports", "lock_dataset", "metadata_changed", "record_import", "set_natural_key",
    "set_published", "update_dataset",
    "CopyReader", "build_copy", "copy_path", "prune_deleted",
    "CORRECTION_FIELDS", "add_correction", "list_corrections", "parse_correction",
    "delete_dataset", "describe_import", "imported_before", "keep_undo_of", "latest_import",
    "revert_import", "superseded_count", "supersede",
]
