"""Folium assembly: only our static assets, theme and embed options, bounded payloads."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from geomap import maps
from maps_fixtures import map_frame as _frame, map_html as _html, map_payload as _payload


@pytest.mark.parametrize("layer", ["heat", "cluster", "choropleth", "time"])
@pytest.mark.parametrize("tiles", ["openstreetmap", "none"])
def test_every_layer_uses_only_our_static_assets(layer, tiles):
    html = _html(_frame(), layer=layer, tiles=tiles, title="T")
    srcs = re.findall(r'<(?:script|link)[^>]*(?:src|href)="([^"]+)"', html)
    assert srcs and all(s.startswith("/static/") for s in srcs), srcs
    for banned in ("cdn.jsdelivr", "code.jquery", "bootstrap", "cdnjs", "fontawesome",
                   "netdna", "unpkg"):
        assert banned not in html
    assert "/static/vendor/leaflet/leaflet.js" in html
    assert ("tile.openstreetmap.org" in html) == (tiles == "openstreetmap")
    if tiles == "none":
        assert "GeomapLayers.basemap(" in html
    # No inline styles (CSP style-src 'self'): folium's own <style> header is left out.
    assert "<style" not in html and " style=" not in html


def test_theme_and_embed_options():
    html = _html(_frame(), theme="dark", embed=True)
    assert '"theme":"dark"' in html and '"scrollWheelZoom": false' in html
    assert "gm-dark" in html


@pytest.mark.slow
def test_one_million_incidents_stay_under_200_kb():
    rng = np.random.default_rng(1)
    n = 1_000_000
    # Clustered like real data: most near a few crossings, the rest spread along the border.
    centres = np.array([[49.0, -122.75], [49.0, -97.24], [45.01, -73.45], [42.9, -78.9]])
    pick = rng.integers(0, len(centres), n)
    lat = np.where(rng.random(n) < 0.7, centres[pick, 0] + rng.normal(0, 0.15, n),
                   rng.uniform(41.5, 49.5, n))
    lon = np.where(rng.random(n) < 0.7, centres[pick, 1] + rng.normal(0, 0.3, n),
                   rng.uniform(-125, -67, n))
    frame = pd.DataFrame({"lat": lat, "lon": lon, "count": rng.integers(1, 6, n),
                          "occurred_at": pd.Timestamp("2025-01-01")
                          + pd.to_timedelta(rng.integers(0, 365, n), unit="D")})
    for layer in ("heat", "time", "cluster"):
        html = _html(frame, layer=layer, tiles="none", title="1M", embed=True)
        assert len(html.encode()) < 200_000, (layer, len(html))
    cells = _payload(_html(frame, layer="heat"), "heat")["cells"]
    assert 1000 < len(cells) <= maps.MapSpec().heat_max_cells
