"""Row content hashes: two independently keyed 64-bit halves of a 128-bit hash per incident.

The dedupe key of rows without source_id, and what tells an upsert whether a keyed row
changed (`geomap.ingest.storing`). Needs no database.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


#: What the content hash covers. ``keyed`` (whether the row has a source_id) stands for the
#: source_id itself: hashes are only ever compared between rows with the same source_id
#: (upserts) or between rows without one (dedupe), so hashing a million unique ids twice
#: would add nothing but time.
HASHED_COLUMNS = ("keyed", "occurred_at", "precision", "lat", "lon", "type", "count",
                  "direction", "description", "attributes")
#: Text columns with few distinct values: hashed once per distinct value (factorised first).
_FEW_VALUES = frozenset({"precision", "type", "direction"})
HASH_COLUMNS = ("row_hash", "row_hash2")


def row_hashes(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the 128-bit content hash of each incident as two signed 64-bit integer columns.

    The hash covers what an incident says (time, place rounded to 1e-6 degrees, type, count,
    direction, description, extra attributes, and whether it has a source_id), not what the
    import computed from it, so the same row uploaded twice hashes the same: it is the dedupe
    key of rows without source_id, and tells an upsert whether a keyed row changed. ``row_hash`` (indexed) and
    ``row_hash2`` are two independently keyed hashes, so dedupe is as exact as a 128-bit
    digest while the index holds an 8-byte integer, and no Python string is made per row.

    Parameters
    ----------
    frame : pandas.DataFrame
        Incidents with (some of) the `HASHED_COLUMNS`; a missing column hashes as empty.

    Returns
    -------
    pandas.DataFrame
        ``row_hash`` and ``row_hash2`` (int64), on the frame's index.
    """
    n = len(frame)
    accumulators = [np.full(n, seed, dtype=np.uint64) for seed in _HASH_SEEDS]
    for position, column in enumerate(HASHED_COLUMNS):
        values = _hash_column(frame, column)  # normalised once, hashed with both keys
        # Position-dependent multipliers: the same value in two columns hashes differently.
        multiplier = np.uint64(1000003 + 2 * position * 82520)
        for acc, key in zip(accumulators, _HASH_KEYS):
            acc ^= _column_hash(values, column, key)
            acc *= multiplier
    _hash_place(frame, accumulators)
    return pd.DataFrame({name: _mix(acc).view(np.int64)
                         for name, acc in zip(HASH_COLUMNS, accumulators)}, index=frame.index)


def _hash_place(frame: pd.DataFrame, accumulators: list[np.ndarray]) -> None:
    """Mix the matched place into the hash of the rows that have one (migration 0009).

    Rows known only by sector or state have no coordinates: their place is what tells
    them apart. Rows without a place (every row stored before 0009) keep their hash.
    """
    if "place" not in frame:
        return
    values = frame["place"].to_numpy(dtype=object)
    present = pd.notna(values)
    if not present.any():
        return
    idx = np.flatnonzero(present)
    text = pd.Series(values[idx], dtype=object).astype(str)
    multiplier = np.uint64(1000003 + 2 * len(HASHED_COLUMNS) * 82520)
    for acc, key in zip(accumulators, _HASH_KEYS):
        codes, uniques = pd.factorize(text.to_numpy(), sort=False)
        hashed = pd.util.hash_array(np.asarray(uniques, dtype=object), hash_key=key,
                                    categorize=False)[codes]
        acc[idx] = (acc[idx] ^ hashed) * multiplier


def add_row_hashes(frame: pd.DataFrame) -> pd.DataFrame:
    """Set ``row_hash`` and ``row_hash2`` on frame (in place) and return it."""
    hashes = row_hashes(frame)
    for name in HASH_COLUMNS:
        frame[name] = hashes[name].to_numpy()
    return frame


_HASH_KEYS = ("geomap-rowhash-1", "geomap-rowhash-2")
_HASH_SEEDS = (0x345678, 0x9E3779B97F4A7C15)


def _mix(values: np.ndarray) -> np.ndarray:
    """Return splitmix64's finaliser of uint64 values (a bijection that spreads every bit)."""
    values = values.copy()
    values ^= values >> np.uint64(30)
    values *= np.uint64(0xBF58476D1CE4E5B9)
    values ^= values >> np.uint64(27)
    values *= np.uint64(0x94D049BB133111EB)
    values ^= values >> np.uint64(31)
    return values


def _column_hash(values: pd.Series, column: str, key: str) -> np.ndarray:
    """Return a uint64 hash per row of one normalised column (`_hash_column`).

    Text is hashed with the key; numbers by pandas' keyless mixer, so the second key
    re-mixes them to keep the two halves of the hash independent.
    """
    if values.dtype != object:
        hashed = pd.util.hash_array(values.to_numpy())
        return hashed if key == _HASH_KEYS[0] else _mix(hashed ^ np.uint64(0x5BD1E9955BD1E995))
    cells = values.to_numpy()
    if len(cells) and (cells == cells[0]).all():
        # One value in every row (an absent description or attributes column): hash it once.
        one = pd.util.hash_array(cells[:1], hash_key=key, categorize=False)
        return np.full(len(cells), one[0], dtype=np.uint64)
    if column in _FEW_VALUES:
        codes, uniques = pd.factorize(cells, sort=False)
        return pd.util.hash_array(np.asarray(uniques, dtype=object), hash_key=key,
                                  categorize=False)[codes]
    return pd.util.hash_array(cells, hash_key=key, categorize=False)


def _hash_column(frame: pd.DataFrame, column: str) -> pd.Series:
    """Return one column in a canonical dtype, so equal content always hashes equal."""
    import json

    if column == "keyed":
        if "source_id" not in frame:
            return pd.Series(0, index=frame.index, dtype=np.int64)
        return frame["source_id"].notna().astype(np.int64)
    if column not in frame:
        return pd.Series("", index=frame.index, dtype=object)
    values = frame[column]
    if column in ("lat", "lon"):
        return values.astype(float).round(6)
    if column == "count":
        return values.astype("int64")
    if column == "occurred_at":
        return pd.to_datetime(values).astype("datetime64[s]").astype("int64")
    if column == "attributes":
        # Only dicts with something in them count; most files have no extra columns at all.
        out = np.full(len(values), "", dtype=object)
        cells = values.to_numpy(dtype=object)
        present = np.flatnonzero(pd.notna(cells))
        if len(present):
            out[present] = [json.dumps(v, sort_keys=True) if isinstance(v, dict) and v else ""
                            for v in cells[present]]
        return pd.Series(out, index=frame.index, dtype=object)
    values = values.astype(object)
    missing = values.isna().to_numpy()
    if missing.any():
        values = values.where(~missing, "")
    # Non-text cells (numbers in an object column) are hashed as their str(), like text.
    return values.map(str) if not _all_text(values) else values


def _all_text(values: pd.Series) -> bool:
    """Say whether every cell of an object column is a str (the usual case: no conversion)."""
    from pandas.api.types import infer_dtype

    return infer_dtype(values, skipna=False) in ("string", "empty")
