"""PNG benchmark: time to draw the static image / social card (`maps.render_png`).

Draws the illustrative sample (geomap/sample.py, about 3,000 incidents along the whole
border) and a generated 100,000-incident selection, as a heat image and as choropleths by
state/province and by border segment, over the committed region layers
(shapefiles/regions.gpkg), at 1200 x 630 and at 600 x 315. Aggregation is done once
beforehand: the figures are the drawing alone (matplotlib, labels, legend, encoding).
Prints the median and the fastest of --rounds renders per case.

Usage: .venv/bin/python bench/png.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from geomap import maps, regions, sample  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    path = ROOT / "shapefiles" / "regions.gpkg"
    layers = maps.display_layers(path)
    loaded = regions.load(path)
    frame = sample.generate(loaded)
    joined = regions.assign(frame["lon"].to_numpy(), frame["lat"].to_numpy(), loaded)
    frames = {"sample": frame.join(joined.drop(columns=["reason"]))}
    from maps import generate  # bench/maps.py: incidents clustered at crossings

    frames["100k"] = generate(100_000)
    cases = [("heat", {}), ("choropleth", {"by": "admin1"}),
             ("choropleth", {"by": "border_segment"})]
    print(f"{'data':8} {'layer':28} {'size':>9} {'median ms':>10} {'best ms':>8}")
    for name, frame in frames.items():
        for layer, extra in cases:
            spec = maps.MapSpec(title="Northern border crossings, 2025", layer=layer,
                                source="bench", **extra)
            agg = maps.aggregate_frame(frame, spec, layers)
            for size in ((1200, 630), (600, 315)):
                times = []
                for _ in range(args.rounds):
                    start = time.perf_counter()
                    maps.render_png(agg, spec, layers, size=size)
                    times.append((time.perf_counter() - start) * 1000)
                label = layer + (f" by {extra['by']}" if extra else "")
                print(f"{name:8} {label:28} {size[0]:>4}x{size[1]:<4} "
                      f"{statistics.median(times):>10.0f} {min(times):>8.0f}")


if __name__ == "__main__":
    main()
