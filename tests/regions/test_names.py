"""Declared state/province text -> admin1 code (geomap.regions.names)."""

from __future__ import annotations

import pytest

from geomap import regions as rg


@pytest.mark.parametrize("text,code", [
    ("Washington", "US-WA"), ("WA", "US-WA"), ("us-wa", "US-WA"), ("British Columbia", "CA-BC"),
    ("BC", "CA-BC"), ("Québec", "CA-QC"), ("QC", "CA-QC"), ("CA-ON", "CA-ON"),
    ("new york", "US-NY"), ("District of Columbia", "US-DC"), ("Yukon", "CA-YT"),
])
def test_normalise_region(text, code):
    assert rg.normalise_region(text) == code


@pytest.mark.parametrize("text", ["", None, "Narnia", "XX", "US-XX"])
def test_normalise_region_unknown(text):
    assert rg.normalise_region(text) is None
