"""build-places from small made-up inputs (no download): what is kept, merged and written."""

from __future__ import annotations

import csv

import pytest

from geomap.regions.build import places as build


def _zip(zip_code, city, state, lat, lon, also=()):
    return {"zip_code": zip_code, "city": city, "state": state, "lat": str(lat),
            "long": str(lon), "acceptable_cities": list(also)}


def _geonames(geoname_id, name, country, admin1, lat, lon, feature_class="P"):
    cells = [str(geoname_id), name, name, "", str(lat), str(lon), feature_class, "PPL",
             country, "", admin1, "", "", "", "600", "", "", "", ""]
    return "\t".join(cells) + "\n"


def test_zip_towns_are_means_of_their_zip_codes_in_border_states_only():
    towns = build.zip_places([
        _zip("98230", "Blaine", "WA", 48.98, -122.74, also=["Birch Bay"]),
        _zip("98231", "Blaine", "WA", 49.00, -122.76),
        _zip("85701", "Tucson", "AZ", 32.2, -110.9),
        _zip("59917", "Eureka", "MT", 48.84, -115.00)])
    by_name = {t["name"]: t for t in towns}
    assert set(by_name) == {"Blaine", "Birch Bay", "Eureka"}  # Arizona is not kept
    assert by_name["Blaine"]["lat"] == pytest.approx(48.99)
    assert by_name["Birch Bay"]["source"] == "zipcodes (area of ZIP 98230)"


def test_geonames_places_map_canadian_admin1_codes():
    places = build.geonames_places([
        _geonames(1, "Lacolle", "CA", "10", 45.08, -73.37),
        _geonames(2, "Halifax", "CA", "07", 44.6, -63.6),        # Nova Scotia: not kept
        _geonames(3, "Blaine", "US", "WA", 48.99, -122.75),
        _geonames(4, "Blaine Lake", "US", "WA", 48.9, -122.7, feature_class="H")])
    assert [(p["name"], p["admin1"]) for p in places] == [("Lacolle", "CA-QC"),
                                                          ("Blaine", "US-WA")]


def test_merge_prefers_geonames_and_places_ports_at_their_post_office(tmp_path):
    geonames = build.geonames_places([_geonames(3, "Blaine", "US", "WA", 48.99, -122.75)])
    zips = build.zip_places([_zip("98230", "Blaine", "WA", 48.5, -122.5)] + [
        _zip(str(59000 + i), office, state, 48.8, -110.0 - i)
        for i, (_port, state, office) in enumerate(build.PORT_POST_OFFICES)])
    rows = build.merge(geonames, zips)
    blaine = [r for r in rows if r["name"] == "Blaine"]
    assert len(blaine) == 1 and blaine[0]["source"] == "GeoNames 3"
    roosville = next(r for r in rows if r["name"] == "Roosville")
    assert roosville["source"].startswith("post office of the port's address: Eureka, MT")
    for row in rows:
        row["border_km"] = 1.0
    build.write_places(rows, tmp_path / "places.csv")
    with open(tmp_path / "places.csv", encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    assert list(written[0]) == list(build.COLUMNS) and len(written) == len(rows)
    by_name = {r["name"]: r for r in written}
    # GeoNames gives Blaine's population; a port placed at its post office has none of its own.
    assert by_name["Blaine"]["population"] == "600" and by_name["Blaine"]["port"] == "1"
    assert by_name["Roosville"]["population"] == "" and by_name["Roosville"]["port"] == "1"
    assert by_name["Eureka"]["port"] == "0"


def test_a_port_whose_post_office_is_missing_stops_the_build():
    with pytest.raises(ValueError, match="Eureka"):
        build.merge([], [])
