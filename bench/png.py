"""PNG benchmark: time to draw the static image / social card (`maps.render_png`).

Draws the illustrative sample (geomap/sample.py, about 3,000 incidents along the whole
border) and a generated 100,000-incident selection, as a heat image and as choropleths by
state/province and by border segment, over the committed region layers
(shapefiles/regions.gpkg), at 1200 x 630 and at 600 x 315. Aggregation is done once
beforehand: the figures are the drawing alone (matplotlib, labels, legend, encoding).
Prints the median and the fastest of --rounds renders per case. With --reference PATH (a
png.py of another version, e.g. `git show 4a3aa2d:geomap/maps/png.py > /tmp/png_before.py`)
each case is also drawn by that module, interleaved round by round with the current one, so
a busy machine slows both alike.

Usage: .venv/bin/python bench/png.py [--rounds 5] [--reference /tmp/png_before.py]
"""

from __future__ import annotations

import argparse
import importlib.util
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
    parser.add_argument("--reference", help="a png.py to time side by side")
    args = parser.parse_args()
    renderers = {"current": maps.render_png}
    if args.reference:
        # Loaded inside geomap.maps, so its relative imports resolve as they did.
        spec_ = importlib.util.spec_from_file_location("geomap.maps._reference_png",
                                                        args.reference)
        module = importlib.util.module_from_spec(spec_)
        spec_.loader.exec_module(module)
        renderers = {"reference": module.render_png, **renderers}
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
    print(f"{'data':8} {'layer':28} {'size':>9} {'version':>9} {'median ms':>10} "
          f"{'best ms':>8}")
    for name, frame in frames.items():
        for layer, extra in cases:
            spec = maps.MapSpec(title="Northern border crossings, 2025", layer=layer,
                                source="bench", **extra)
            agg = maps.aggregate_frame(frame, spec, layers)
            for size in ((1200, 630), (600, 315)):
                times = {version: [] for version in renderers}
                for version, render in renderers.items():
                    render(agg, spec, layers, size=size)  # warm: imports, caches
                for _ in range(args.rounds):
                    for version, render in renderers.items():
                        start = time.perf_counter()
                        render(agg, spec, layers, size=size)
                        times[version].append((time.perf_counter() - start) * 1000)
                label = layer + (f" by {extra['by']}" if extra else "")
                for version, values in times.items():
                    print(f"{name:8} {label:28} {size[0]:>4}x{size[1]:<4} {version:>9} "
                          f"{statistics.median(values):>10.0f} {min(values):>8.0f}")


if __name__ == "__main__":
    main()
