"""JSON text: one escape table (API responses and map scripts) and one value normaliser."""

import datetime as dt
import json

import numpy as np
import pandas as pd

from geomap import jsontext, maps

BREAKERS = "</script><!-- & ' \u2028\u2029"


def test_escapes_are_json_equivalent():
    api = jsontext.escape(json.dumps(BREAKERS, ensure_ascii=False))
    script = jsontext.js_json(BREAKERS)
    for text in (api, script):
        assert not any(ch in text for ch in "<>&\u2028\u2029")
        assert json.loads(text) == BREAKERS
    assert "'" in api and "'" not in script  # apostrophes: map scripts only
    assert maps.js_json is jsontext.js_json


def test_api_responses_use_the_table(client):
    response = client.get("/api/datasets/<x>")
    assert b"<" not in response.data and b"\\u003c" in response.data


def test_plain():
    value = {"a": np.int64(3), "b": [np.float64("nan"), float("nan"), pd.NA, pd.NaT, None],
             "c": (np.bool_(True), np.str_("x")), "d": dt.date(2025, 1, 2),
             "e": pd.Timestamp("2025-01-02 03:04:05"), "f": "text"}
    out = jsontext.plain(value)
    assert out == {"a": 3, "b": [None] * 5, "c": [True, "x"], "d": "2025-01-02",
                   "e": "2025-01-02T03:04:05", "f": "text"}
    assert type(out["a"]) is int and type(out["c"][0]) is bool
    json.dumps(out, allow_nan=False)
