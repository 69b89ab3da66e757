"""What an import has already written, for dedupe within the file: `SeenKeys`.

Sorted numpy arrays of 64-bit keys (and check values) with the line of each, searched per
block by `storing`; memory bounded by moving old runs to temporary files. No database.
"""

from __future__ import annotations

import mmap
import tempfile

import numpy as np


#: Entries `SeenKeys` keeps in memory (16-24 bytes each, and as much again while two arrays
#: merge); older ones are moved to temporary files, so an import of any size holds at most
#: this many (~50 MB) plus the one run being searched.
SEEN_KEYS_IN_MEMORY = 2_000_000


class SeenKeys:
    """What this import has already written: 64-bit keys (and optional check values), lines.

    Kept as sorted numpy arrays (16-24 bytes a row), so a multi-million-row file costs tens
    of MB here, not a Python set of strings. A block's array is merged with the one before it
    while that one is at most twice as long, so there are O(log blocks) arrays to search: one
    array per block made `find` quadratic in the file (1.5 s for 8 blocks of 133k keys, 14 s
    for 24). Merges are stable: equal keys stay in the order they were added, so the first
    occurrence is still found first. Without check values a hit is
    only a candidate (64-bit key hashes may collide) that callers confirm against the
    database where it matters; with them (the second half of the content hash) a hit means
    the whole 128-bit hash matched.

    Memory is bounded: past `memory_rows` entries, the oldest arrays (the largest) are
    written to anonymous temporary files and searched through read-only maps whose pages
    are handed back to the kernel after each search, so the process holds at most one of
    them at a time (the files are the OS's to cache). They are never merged again; each
    holds at least half of `memory_rows` entries, so there are few to search.
    """

    def __init__(self, memory_rows: int | None = None):
        self.memory_rows = SEEN_KEYS_IN_MEMORY if memory_rows is None else memory_rows
        self.keys: list[np.ndarray] = []
        self.checks: list[np.ndarray | None] = []
        self.lines: list[np.ndarray] = []
        #: The first `spilled` arrays are on disk (`_Spilled`), older than the others.
        self.spilled: list[_Spilled] = []

    def find(self, keys: np.ndarray, checks: np.ndarray | None = None) -> np.ndarray:
        """Return the line of each key's first occurrence, or -1 if not seen."""
        # Searched in key order: random probes into arrays of millions of keys miss the CPU
        # cache at every step, ascending ones walk them (several times faster).
        order = np.argsort(keys)
        keys = keys[order]
        if checks is not None:
            checks = np.asarray(checks)[order]
        out = np.full(len(keys), -1, dtype=np.int64)
        for index, (seen, seen_checks, lines) in enumerate(zip(self.keys, self.checks,
                                                               self.lines)):
            self._search(out, keys, checks, seen, seen_checks, lines)
            if index < len(self.spilled):
                self.spilled[index].release()
        result = np.empty_like(out)
        result[order] = out
        return result

    @staticmethod
    def _search(out, keys, checks, seen, seen_checks, lines) -> None:
        """Fill `out` (where still -1) with the lines of `keys` found in one sorted array."""
        left = np.searchsorted(seen, keys, side="left")
        right = np.searchsorted(seen, keys, side="right")
        pos = np.minimum(left, len(seen) - 1)
        hit = (right > left) & (out < 0)
        if checks is not None and seen_checks is not None:
            # Equal keys with another check value (a 64-bit collision, or the same key
            # more than once) are resolved one by one; otherwise compare the one match.
            several = hit & (right - left > 1)
            single = hit & ~several
            single &= seen_checks[pos] == checks
            for i in np.flatnonzero(several):
                match = np.flatnonzero(seen_checks[left[i]:right[i]] == checks[i])
                if len(match):
                    out[i] = lines[left[i] + match[0]]
            hit = single
        out[hit] = lines[pos[hit]]

    def add(self, keys: np.ndarray, lines: np.ndarray,
            checks: np.ndarray | None = None) -> None:
        if len(keys):
            order = np.argsort(keys, kind="stable")
            self.keys.append(keys[order])
            self.checks.append(None if checks is None else np.asarray(checks)[order])
            self.lines.append(np.asarray(lines, dtype=np.int64)[order])
        while (len(self.keys) - len(self.spilled) > 1
               and len(self.keys[-2]) <= 2 * len(self.keys[-1])
               and (self.checks[-2] is None) == (self.checks[-1] is None)):
            self._merge_last()
        while sum(len(k) for k in self.keys[len(self.spilled):]) > self.memory_rows:
            self._spill_oldest()

    def _merge_last(self) -> None:
        """Merge the newest array into the one before it (after any equal keys there)."""
        keys, checks, lines = self.keys.pop(), self.checks.pop(), self.lines.pop()
        at = np.searchsorted(self.keys[-1], keys, side="right")
        self.keys[-1] = np.insert(self.keys[-1], at, keys)
        self.lines[-1] = np.insert(self.lines[-1], at, lines)
        if checks is not None:
            self.checks[-1] = np.insert(self.checks[-1], at, checks)

    def _spill_oldest(self) -> None:
        """Move the oldest array still in memory to a temporary file (see the class)."""
        i = len(self.spilled)
        run = _Spilled(self.keys[i], self.checks[i], self.lines[i])
        self.keys[i], self.checks[i], self.lines[i] = run.keys, run.checks, run.lines
        self.spilled.append(run)


class _Spilled:
    """One sorted run of `SeenKeys` in an anonymous temporary file, mapped read-only."""

    def __init__(self, keys: np.ndarray, checks: np.ndarray | None, lines: np.ndarray):
        parts = [np.ascontiguousarray(part) for part in
                 (keys, lines, *(() if checks is None else (checks,)))]
        with tempfile.TemporaryFile(prefix="geomap-seen-") as handle:
            for part in parts:
                handle.write(part.tobytes())
            handle.flush()
            # The map keeps the file (already unlinked) until it is garbage collected.
            self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        mapped, offset = [], 0
        for part in parts:
            mapped.append(np.frombuffer(self._map, dtype=part.dtype, count=len(part),
                                        offset=offset))
            offset += part.nbytes
        self.keys, self.lines = mapped[0], mapped[1]
        self.checks = mapped[2] if checks is not None else None

    def release(self) -> None:
        """Hand the pages read back to the kernel (they stay in its cache of the file)."""
        self._map.madvise(mmap.MADV_DONTNEED)
