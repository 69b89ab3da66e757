"""Grid binning: cell sizes fitted to the extent, coarsening to the cap."""

from __future__ import annotations

import numpy as np
import pandas as pd

from geomap import maps


def test_cell_size_fits_the_extent():
    small = [[48.9, -122.8], [49.1, -122.2]]
    wide = [[42.0, -125.0], [49.5, -67.0]]
    assert maps.fit_cell(small) < maps.fit_cell(wide)
    assert maps.fit_cell(small) == 0.005
    assert maps.fit_cell(wide) == 0.2


def test_grid_coarsening_caps_cells():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"lat": rng.uniform(42, 49, 50_000), "lon": rng.uniform(-125, -67, 50_000),
                          "count": 1})
    agg = maps.aggregate_frame(frame, maps.MapSpec(heat_max_cells=500))
    assert len(agg.cells) <= 500 and agg.cells["n"].sum() == 50_000
