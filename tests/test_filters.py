"""Query arguments -> normalised filters and canonical query strings."""

import datetime as dt

import pytest
from werkzeug.datastructures import MultiDict

from geomap import filters
from geomap.errors import BadRequest


def test_defaults_for_empty_query():
    out = filters.parse(MultiDict())
    assert out["from"] is None and out["to"] is None
    assert out["type"] == () and out["admin1"] == ()
    assert (out["layer"], out["by"], out["period"], out["theme"]) == ("heat", "admin1", "auto",
                                                                      "light")
    assert out["per"] == "count" and out["cumulative"] == "0"
    assert filters.canonical_query(out) == ""


def test_per_border_mile_and_aliases():
    out = filters.parse({"layer": "choropleth", "per": "Miles"})
    assert out["per"] == "border_mile"
    assert "per=border_mile" in filters.canonical_query(out)


def test_dates_inclusive_end_and_partial_dates():
    out = filters.parse({"from": "2025-01", "to": "2025-03"})
    assert out["from"] == dt.datetime(2025, 1, 1)
    assert out["to"] == dt.datetime(2025, 4, 1)  # exclusive: through the end of March
    out = filters.parse({"from": "2025-02-03", "to": "2025-02-03"})
    assert out["to"] == dt.datetime(2025, 2, 4)
    assert filters.parse({"to": "2024"})["to"] == dt.datetime(2025, 1, 1)
    assert filters.parse({"to": "2024-12"})["to"] == dt.datetime(2025, 1, 1)


@pytest.mark.parametrize("args, param", [
    ({"from": "01/02/2025"}, "from"),
    ({"from": "2025-02-30"}, "from"),
    ({"to": "yesterday"}, "to"),
    ({"from": "2025-03-01", "to": "2025-02-01"}, "to"),
    ({"direction": "sideways"}, "direction"),
    ({"country": "MX"}, "country"),
    ({"admin1": "Washington"}, "admin1"),
    ({"sector": "<script>"}, "sector"),
    ({"layer": "3d"}, "layer"),
    ({"by": "county"}, "by"),
    ({"period": "day"}, "period"),
    ({"theme": "neon"}, "theme"),
    ({"per": "furlong"}, "per"),
    ({"type": "x" * 101}, "type"),
    ({"type": "a\x00b"}, "type"),
    (MultiDict([("layer", "heat"), ("layer", "cluster")]), "layer"),
    (MultiDict([("admin1", f"US-A{i % 10}") for i in range(51)]), "admin1"),
])
def test_bad_values_name_parameter_value_and_expectation(args, param):
    with pytest.raises(BadRequest) as info:
        filters.parse(args)
    err = info.value
    assert err.status == 400
    assert err.details["parameter"] == param
    assert param in err.message and "expected" in err.message


def test_normalises_lists_aliases_and_case():
    args = MultiDict([("type", "crossing"), ("type", "apprehension"), ("type", "crossing"),
                      ("direction", "NB"), ("direction", "south"), ("country", "ca"),
                      ("admin1", "us-wa"), ("admin1", "CA_BC"), ("sector", "grand forks"),
                      ("by", "border_mile"), ("layer", "Choropleth"), ("type", " ")])
    out = filters.parse(args)
    assert out["type"] == ("apprehension", "crossing")
    assert out["direction"] == ("northbound", "southbound")
    assert out["country"] == ("CA",)
    assert out["admin1"] == ("CA-BC", "US-WA")
    assert out["sector"] == ("GFN",)
    assert filters.parse({"sector": ["blw", "Blaine", "HTM"]})["sector"] == ("BLW", "HTM")
    assert out["by"] == "border_segment" and out["layer"] == "choropleth"


def test_canonical_query_is_stable_and_omits_defaults():
    a = filters.parse(MultiDict([("admin1", "US-WA"), ("admin1", "CA-BC"), ("from", "2025-01"),
                                 ("layer", "heat"), ("utm_source", "newsletter")]))
    b = filters.parse(MultiDict([("from", "2025-01-01"), ("admin1", "ca-bc"),
                                 ("admin1", "US-WA")]))
    assert filters.canonical_query(a) == filters.canonical_query(b)
    assert filters.canonical_query(a) == "from=2025-01-01&admin1=CA-BC&admin1=US-WA"
    assert "utm_source" not in filters.canonical_query(a)
    # An inclusive end survives a round trip.
    c = filters.parse({"to": "2025-03"})
    assert filters.canonical_query(c) == "to=2025-03-31"
    assert filters.parse(dict([("to", "2025-03-31")]))["to"] == c["to"]


def test_canonical_query_changes_and_selection_keys():
    out = filters.parse({"type": "a&b=c", "theme": "dark"})
    assert filters.canonical_query(out, layer="cluster") == "type=a%26b%3Dc&layer=cluster&theme=dark"
    assert filters.canonical_query(out, keys=filters.SELECTION_KEYS) == "type=a%26b%3Dc"
    assert set(filters.selection(out)) == set(filters.SELECTION_KEYS)


def test_describe():
    out = filters.parse({"from": "2025-01", "to": "2025-02", "country": "US"})
    assert filters.describe(out) == "January 1, 2025 to February 28, 2025; country: US"
    assert filters.describe(filters.parse({})) == ""


def test_plain_dict_and_list_values():
    assert filters.parse({"type": ["a", "b"]})["type"] == ("a", "b")
    assert filters.parse({"type": "a"})["type"] == ("a",)
