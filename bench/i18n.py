"""Language benchmark: what French and km cost a rendering, against English and miles.

Renders the illustrative sample (geomap/sample.py, about 3,000 incidents along the whole
border, joined to the committed region layers) as a standalone map document
(`maps.render_map`: aggregation, payloads, legend, HTML) for each layer, and as the static
image (`maps.render_png`, heat and choropleth by border segment), once in English with miles
and once in French with km, interleaved round by round so a busy machine slows both alike.
Prints the median and fastest of --rounds renders per case and language, and the French
document's size against the English one.

Usage: .venv/bin/python bench/i18n.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geomap import maps, regions, sample  # noqa: E402

CASES = [("heat", {}), ("cluster", {}), ("time", {}), ("choropleth", {"by": "admin1"}),
         ("choropleth", {"by": "border_segment"})]
LANGS = (("en", "mi"), ("fr", "km"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    path = ROOT / "shapefiles" / "regions.gpkg"
    layers = maps.display_layers(path)
    loaded = regions.load(path)
    frame = sample.generate(loaded)
    joined = regions.assign(frame["lon"].to_numpy(), frame["lat"].to_numpy(), loaded)
    frame = frame.join(joined.drop(columns=["reason"]))
    print(f"{'output':6} {'layer':28} {'lang':>8} {'median ms':>10} {'best ms':>8} "
          f"{'bytes':>9}")

    def run(kind, layer, extra):
        times = {lang: [] for lang in LANGS}
        sizes = {}
        for _ in range(args.rounds):
            for lang, units in LANGS:
                spec = maps.MapSpec(title="Northern border crossings, 2025", layer=layer,
                                    tiles="none", lang=lang, units=units, **extra)
                started = time.perf_counter()
                if kind == "html":
                    out = maps.render_map(frame, spec, layers).encode("utf-8")
                else:
                    agg = maps.aggregate_frame(frame, spec, layers)
                    out = maps.render_png(agg, spec, layers)
                times[(lang, units)].append((time.perf_counter() - started) * 1000)
                sizes[(lang, units)] = len(out)
        label = layer + (f" by {extra['by']}" if extra else "")
        for lang, units in LANGS:
            values = times[(lang, units)]
            print(f"{kind:6} {label:28} {lang + '/' + units:>8} "
                  f"{statistics.median(values):10.1f} {min(values):8.1f} "
                  f"{sizes[(lang, units)]:9,}")

    for layer, extra in CASES:
        run("html", layer, extra)
    for layer, extra in (("heat", {}), ("choropleth", {"by": "border_segment"})):
        run("png", layer, extra)


if __name__ == "__main__":
    main()
