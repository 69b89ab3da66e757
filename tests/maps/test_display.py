"""Region display layers: read once per file version, drawn around the selection."""

from __future__ import annotations

from geomap import maps
from maps_fixtures import (display_layers, map_frame as _frame, map_html as _html,
                           map_payload as _payload)


def test_display_layers_reads_a_geopackage(tmp_path):
    layers = display_layers()
    path = tmp_path / "regions.gpkg"
    layers["admin1"].to_file(path, layer="admin1_display")
    layers["sector"].to_file(path, layer="usbp_sectors")
    layers["border"].to_file(path, layer="border")
    read = maps.display_layers(path)
    assert set(read) == {"admin1", "sector", "border"}
    assert maps.display_layers(tmp_path / "missing.gpkg") == {}
    assert maps.display_layers(path) is read  # cached per file version


def test_choropleth_draws_only_regions_near_the_selection():
    frame = _frame(10)  # all near Blaine: Montana is far outside the view
    codes = {f["properties"]["code"] for f in
             _payload(_html(frame, layer="choropleth"), "regions")["features"]["features"]}
    assert codes == {"US-WA", "CA-BC"}
