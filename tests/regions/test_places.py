"""Place and sector names as published -> gazetteer places and Border Patrol sectors."""

from __future__ import annotations

import pytest

from geomap.regions.names import name_key, normalise_region
from geomap.regions.places import DEFAULT_PLACES_PATH, PORT_TOWNS, Gazetteer, Miss, Place, \
    load_places, split_state
from geomap.regions.sectors import SECTORS, find_sector

needs_file = pytest.mark.skipif(not DEFAULT_PLACES_PATH.exists(),
                                reason="shapefiles/places.csv not built")


@needs_file
@pytest.mark.parametrize("name, admin1", PORT_TOWNS)
def test_port_towns_are_in_the_gazetteer_near_the_border(name, admin1):
    """PORT_TOWNS: the towns the US ports on this border are named after (issue 17) and
    their Canadian counterparts."""
    found = load_places().find(name, admin1)
    assert isinstance(found, Place), found
    assert found.admin1 == admin1
    assert found.border_km < 60, (found, "a port town is near the border")


@needs_file
def test_the_file_marks_the_ports_and_gives_geonames_populations():
    import csv

    with open(DEFAULT_PLACES_PATH, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    ports = {(name_key(r["name"]), r["admin1"]) for r in rows if r["port"] == "1"}
    assert ports == {(name_key(name), admin1) for name, admin1 in PORT_TOWNS}
    by_name = {(r["name"], r["admin1"]): r for r in rows}
    assert int(by_name[("Vancouver", "CA-BC")]["population"]) > 500_000
    assert by_name[("Roosville", "US-MT")]["population"] == ""  # the post office's is not its own
    assert all(r["population"] == "" for r in rows if r["source"].startswith("zipcodes"))


@needs_file
@pytest.mark.parametrize("text, admin1, label", [
    ("Sweetgrass, MT", None, "Sweet Grass, MT"), ("SWEETGRASS (Montana)", None, "Sweet Grass, MT"),
    ("Sweetgrass MT", None, "Sweet Grass, MT"), ("Port of Sweetgrass", "US-MT", "Sweet Grass, MT"),
    ("Champlain-Rouses Point", "US-NY", "Champlain, NY"),
    ("Champlain Rouses Point", "US-NY", "Champlain, NY"),
    ("Highgate Springs-Alburg", "US-VT", "Highgate Springs, VT"),
    ("Buffalo-Niagara Falls", "US-NY", "Buffalo, NY"),
    ("Sault Sainte Marie", "US-MI", "Sault Ste. Marie, MI"),
    ("Lacolle, QC", None, "Lacolle, QC"), ("Osoyoos, Colombie-Britannique", None, "Osoyoos, BC"),
])
def test_published_forms(text, admin1, label):
    assert load_places().find(text, admin1).label == label


@needs_file
def test_misses_say_why():
    places = load_places()
    tucson = places.find("Tucson, AZ")
    assert isinstance(tucson, Miss) and tucson.kind == "outside" and "Arizona" in tucson.reason
    laredo = places.find("Laredo")
    assert laredo.kind == "outside" and "Laredo Sector, TX" in laredo.reason
    assert places.find("Nogales", "US-AZ").kind == "outside"
    typo = places.find("Sweetgras", "US-MT")
    assert typo.kind == "unknown" and typo.suggestions == ("Sweet Grass, MT",)
    eastport = places.find("Eastport")
    assert eastport.kind == "ambiguous" and "Eastport, ID" in eastport.suggestions


def test_gazetteer_without_state_takes_the_one_near_the_border():
    g = Gazetteer([Place("Blaine", "US-WA", 48.99, -122.75, 1.0, "t"),
                   Place("Blaine", "US-MN", 45.16, -93.23, 400.0, "t")])
    assert g.find("Blaine").admin1 == "US-WA"
    assert g.find("Blaine", "US-MN").admin1 == "US-MN"
    assert g.find("Blaine", "US-ID").kind == "unknown"


def test_name_forms():
    assert name_key("Sweet Grass") == name_key("SWEETGRASS") == "sweetgrass"
    assert name_key("Sault Ste. Marie") == name_key("Sault Sainte Marie")
    assert name_key("St. John") == name_key("Saint John")
    assert split_state("Calais, Maine") == ("Calais", "US-ME")
    assert split_state("Port Huron") == ("Port Huron", None)
    assert split_state("Blaine, Sector") == ("Blaine, Sector", None)


@pytest.mark.parametrize("text, code", [
    ("Blaine", "BLW"), ("Blaine Sector", "BLW"), ("Blaine, WA", "BLW"), ("BLW", "BLW"),
    ("BLAINE SECTOR (WA)", "BLW"), ("Swanton, VT", "SWB"), ("Swanton Sector, VT", "SWB"),
    ("Grand Forks", "GFN"), ("Rio Grande Valley", "RGV"), ("Big Bend Sector", "BBT"),
    ("Marfa", "BBT"), ("Ramey", "RMY"), ("USBP Detroit", "DTM"),
])
def test_sectors_in_every_published_form(text, code):
    assert find_sector(text).code == code


def test_twenty_sectors_eight_northern():
    assert len(SECTORS) == 20 and len({s.code for s in SECTORS}) == 20
    assert {s.code for s in SECTORS if s.northern} == {"BLW", "SPW", "HVM", "GFN", "DTM", "BUN",
                                                       "SWB", "HTM"}
    assert find_sector("Atlantis") is None and find_sector("") is None


@pytest.mark.parametrize("text, code", [("Québec", "CA-QC"), ("Colombie-Britannique", "CA-BC"),
                                        ("US-WA", "US-WA"), ("wa", "US-WA"), ("Terre-Neuve",
                                                                              "CA-NL")])
def test_states_and_provinces_french_and_codes(text, code):
    assert normalise_region(text) == code
