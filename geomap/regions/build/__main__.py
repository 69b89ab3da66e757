"""``python -m geomap.regions.build``: rebuild ``shapefiles/regions.gpkg`` without Flask."""

import pathlib

from . import build_regions

if __name__ == "__main__":  # pragma: no cover - manual use without Flask
    root = pathlib.Path(__file__).resolve().parents[3]
    build_regions(root / "shapefiles", root / "build" / "regions-cache",
                  log=lambda *a: print(*a, flush=True))
