"""One import in a process of its own, for `bench/ingest.py --memory`: prints JSON figures.

Usage (run by bench/ingest.py, not by hand)::

    python bench/import_child.py TREE CSV URL REGIONS WORKDIR

TREE is the checkout whose ``geomap`` is imported (this one, or an exported copy of another
commit as the reference), so that two versions are measured alike in the same run. The child
loads the region layers and migrates the database first (not timed), then imports CSV into
URL and prints one JSON line: the import's wall seconds, the resident memory before it
(libraries and region layers: what any server process holds), the peak while blocks were
read and written, during the index rebuild (SQLite; ANALYZE on PostgreSQL) and after it
(report, rollups, commit), sampled every
50 ms from /proc, and the kernel's own peak (``ru_maxrss``), which the parent also reads
with ``wait4``.
"""

from __future__ import annotations

import json
import resource
import sys
import threading
import time
from pathlib import Path


def _rss_mb() -> float:
    """Resident memory of this process now, in MB (Linux /proc)."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize() / 2**20


class Sampler(threading.Thread):
    """Note the highest resident memory seen in each phase the import reports."""

    def __init__(self):
        super().__init__(daemon=True)
        self.phase = "start"
        self.peaks: dict[str, float] = {}
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.05):
            rss = _rss_mb()
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0.0), rss)

    def progress(self, state: dict) -> None:
        self.phase = state["phase"]


def main(tree: str, csv: str, url: str, regions_path: str, workdir: str) -> None:
    sys.path.insert(0, tree)
    from geomap import db, ingest
    from geomap.ingest import storing

    regions = ingest.load_regions(regions_path)
    db.migrate(url)
    engine = db.engine_for(url)
    settings = ingest.Settings.from_config({
        "UPLOAD_FOLDER": str(Path(workdir) / "uploads-child"), "AT_BORDER_M": 100.0,
        "MAX_BORDER_KM": 100.0})
    before = _rss_mb()
    sampler = Sampler()
    restore = storing.BulkIndexes.restore

    def restore_noted(self):  # the index rebuild is a phase of its own here
        sampler.phase = "indexes"
        return restore(self)

    storing.BulkIndexes.restore = restore_noted
    sampler.start()
    start = time.perf_counter()
    report = ingest.import_file(engine, csv, dataset="bench", options=ingest.Options(),
                                settings=settings, regions=regions, user_name="bench",
                                progress=sampler.progress)
    seconds = time.perf_counter() - start
    sampler.stopped.set()
    sampler.join()
    db.dispose_engine(url)
    print(json.dumps({
        "seconds": seconds, "rss_before_mb": before,
        "peak_reading_mb": sampler.peaks.get("reading", 0.0),
        "peak_indexes_mb": sampler.peaks.get("indexes", 0.0),
        "peak_finishing_mb": sampler.peaks.get("finishing", 0.0),
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rows_imported": report["rows_imported"], "rows_rejected": report["rows_rejected"]}))


if __name__ == "__main__":
    main(*sys.argv[1:6])
