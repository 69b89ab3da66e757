"""No 500 on any filter input: every public endpoint that reads filters answers odd values
with a 400 naming the parameter, the value and what was expected (issue #15)."""

from __future__ import annotations

import datetime as dt
import html
from urllib.parse import quote

import pytest

from geomap import filters
from geomap.errors import BadRequest
from maps_fixtures import seed_dataset

#: Every public endpoint that parses filters ({q} is the query string).
ENDPOINTS = ["/maps/wa-bc?{q}", "/embed/wa-bc?{q}", "/maps/wa-bc.png?{q}",
             "/oembed?url=http%3A%2F%2Flocalhost%2Fmaps%2Fwa-bc%3F{qq}",
             "/api/datasets/wa-bc/incidents.csv?{q}",
             "/api/datasets/wa-bc/incidents.geojson?{q}",
             "/api/datasets/wa-bc/stats?{q}", "/api/datasets/wa-bc/stats?by=month&{q}",
             "/api/datasets/wa-bc/stats?by=border_segment&{q}"]
#: Dates that parse as YYYY[-MM[-DD]] but lie outside the years filters accept; the first
#: three overflowed Python's calendar as an exclusive end (year 10000) and were 500s.
OUT_OF_RANGE_DATES = ["9999", "9999-12", "9999-12-31", "0000", "0001-01-01", "1899-12-31",
                      "2200-01-01"]
#: Not dates at all.
NOT_DATES = ["99999999999999999999", "9" * 5000, "-1", "nan", "inf", "1e309",
             "\uff12\uff10\uff12\uff15", "\u0662\u0660\u0662\u0665", "2025\x00", "2025-01\n01",
             "2025-1-1"]
#: Odd values for every other parameter the endpoints read.
ODD_VALUES = ["nan", "NaN", "inf", "-inf", "1e309", "-1", "-99999999", "9" * 5000, "\u00b2",
              "\u0661\u0662\u0663", "\x00", "a\x00b", "\u202e", "\u2028", "\u00e9" * 200, "\ufeff",
              "0x10", " "]
OTHER_PARAMS = ["type", "direction", "country", "admin1", "sector", "layer", "by", "per",
                "period", "cumulative", "theme", "limit", "offset", "maxwidth", "maxheight", "bbox", "zoom",
                "title", "legend", "table"]


@pytest.fixture
def dataset(app, fake_display_layers):
    return seed_dataset(app)


def _get(client, endpoint: str, query: str):
    response = client.get(endpoint.format(q=query, qq=quote(query, safe="")))
    response.get_data()  # consume streamed downloads so their generators close
    response.close()
    return response


def _message(response) -> str:
    if response.is_json:
        return response.json["error"]["message"]
    return html.unescape(response.get_data(as_text=True))


@pytest.mark.parametrize("param", ["from", "to"])
@pytest.mark.parametrize("value", OUT_OF_RANGE_DATES)
def test_no_500_on_any_filter_input_out_of_range_dates_are_400_naming_the_range(param, value):
    with pytest.raises(BadRequest) as info:
        filters.parse({param: value})
    err = info.value
    assert err.status == 400
    assert err.details == {"parameter": param, "value": value,
                           "expected": "a date from 1900-01-01 to 2199-12-31 as YYYY-MM-DD, "
                                       "YYYY-MM or YYYY"}
    assert f"{param!r}" in err.message and "1900-01-01 to 2199-12-31" in err.message


@pytest.mark.parametrize("value", NOT_DATES)
def test_no_500_on_any_filter_input_non_dates_are_400(value):
    for param in ("from", "to"):
        with pytest.raises(BadRequest) as info:
            filters.parse({param: value})
        assert info.value.details["parameter"] == param
        assert len(info.value.message) < 400  # a 5000-digit value is not echoed whole


def test_no_500_on_any_filter_input_edges_of_the_range_are_dates():
    out = filters.parse({"from": "1900", "to": "2199-12-31"})
    assert out["from"] == dt.datetime(1900, 1, 1) and out["to"] == dt.datetime(2200, 1, 1)
    assert filters.parse({"to": "2199"})["to"] == dt.datetime(2200, 1, 1)
    assert filters.parse({"to": "2199-12"})["to"] == dt.datetime(2200, 1, 1)


@pytest.mark.parametrize("raw", ["-1", "+5", "1.0", "nan", "inf", "1e3", "\u00b2",
                                 "\u0661\u0662", "9" * 5000, "0x10", "5\x00"])
def test_no_500_on_any_filter_input_whole_numbers(raw):
    with pytest.raises(BadRequest) as info:
        filters.whole_number("limit", raw, low=1, high=100)
    assert info.value.details["expected"] == "a whole number from 1 to 100"
    assert filters.whole_number("limit", " 7 ", low=1, high=100) == 7
    assert filters.whole_number("limit", "", low=1, high=100) is None


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_no_500_on_any_filter_input_dates_on_every_endpoint(client, dataset, endpoint):
    for param in ("from", "to"):
        for value in OUT_OF_RANGE_DATES + NOT_DATES:
            response = _get(client, endpoint, f"{param}={quote(value, safe='')}")
            assert response.status_code == 400, (param, value, response.status_code)
            message = _message(response)
            assert f"parameter '{param}'" in message and "YYYY-MM-DD" in message, message
    # Valid dates merely beyond the data select nothing (or everything): no error.
    for query in ("to=2199-12-31", "from=1900&to=2199", "from=2199-12-31"):
        assert _get(client, endpoint, query).status_code == 200, query


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_no_500_on_any_filter_input_other_params_on_every_endpoint(client, dataset, endpoint):
    seen = set()
    for param in OTHER_PARAMS:
        for value in ODD_VALUES:
            response = _get(client, endpoint, f"{param}={quote(value, safe='')}")
            seen.add(response.status_code)
            assert response.status_code in (200, 400), (param, value, response.status_code)
            if response.status_code == 400:
                assert "expected" in _message(response) or "must be" in _message(response)
    assert 400 in seen


@pytest.mark.parametrize("query, param, expected", [
    ("limit=\u00b2", "limit", "a whole number from 1 to 100000"),
    ("limit=" + "9" * 5000, "limit", "a whole number from 1 to 100000"),
    ("offset=-1", "offset", "a whole number from 0 to 1000000000000"),
])
def test_no_500_on_any_filter_input_paging(client, dataset, query, param, expected):
    response = _get(client, "/api/datasets/wa-bc/incidents.csv?{q}", query)
    assert response.status_code == 400
    assert response.json["error"]["details"]["parameter"] == param
    assert response.json["error"]["details"]["expected"] == expected


def test_no_500_on_any_filter_input_oembed_dimensions(client, dataset):
    base = "/oembed?url=" + quote("http://localhost/maps/wa-bc", safe="")
    for raw in ("\u00b2", "9" * 5000, "nan", "-1", "99"):
        response = _get(client, base + "&maxwidth={q}", quote(raw, safe=""))
        assert response.status_code == 400, raw
        assert response.json["error"]["details"]["parameter"] == "maxwidth"
        assert "whole number of pixels" in response.json["error"]["message"]
    assert _get(client, base + "&maxwidth={q}", "999999").json["width"] == 2000
    # The builder's height rides in the URL asked about.
    for raw in ("\u00b2", "9" * 5000, "nan", "-1", "199", "2001"):
        url = quote("http://localhost/embed/wa-bc?height=" + quote(raw, safe=""), safe="")
        response = _get(client, "/oembed?url=" + url, "")
        assert response.status_code == 400, raw
        assert response.json["error"]["details"]["parameter"] == "height"
        assert "whole number of pixels" in response.json["error"]["message"]
