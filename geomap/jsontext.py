"""JSON text we send: the one escape table and the one value normaliser.

Every JSON text that reaches a browser goes through `ESCAPES`: Flask's JSON responses
(`security.SafeJSONProvider`) and the data inlined into map scripts (`js_json`). Values from
numpy, pandas and the database become plain Python through `plain` first (API bodies, import
reports, GeoJSON properties, map layers). No Flask here: maps and the store use it too.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import numpy as np
import pandas as pd

#: Characters written as ``\\uXXXX`` in every JSON text we send (JSON-equivalent, so readers
#: see the same values): ``<`` cannot close a ``<script>`` element or open a comment, ``>``
#: and ``&`` cannot end a comment or start an entity if a browser reads the text as HTML,
#: U+2028/U+2029 cannot end a JavaScript string in older engines.
ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
           "\u2028": "\\u2028", "\u2029": "\\u2029"}
#: In map scripts only: the JSON is also safe inside a single-quoted JavaScript string or
#: HTML attribute. API responses keep their apostrophes, as they always have.
SCRIPT_ESCAPES = {**ESCAPES, "'": "\\u0027"}
_HTML_TABLE = str.maketrans(ESCAPES)
_SCRIPT_TABLE = str.maketrans(SCRIPT_ESCAPES)


def escape(text: str) -> str:
    """Return JSON text with `ESCAPES` applied (API responses)."""
    return text.translate(_HTML_TABLE)


def js_json(value: Any) -> str:
    """Serialise value as compact JSON that is safe inside an HTML <script> and a JS string.

    `SCRIPT_ESCAPES` are written as ``\\uXXXX`` escapes, so no value can close the script
    element, open a comment or end a string early. NaN is refused (``allow_nan=False``):
    pass values through `plain` first.
    """
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.translate(_SCRIPT_TABLE)


def _missing(value: Any) -> bool:
    return (value is None or value is pd.NA or value is pd.NaT
            or (isinstance(value, float) and math.isnan(value)))


def plain(value: Any) -> Any:
    """Return value as plain, JSON-serialisable Python (dicts and lists converted throughout).

    Missing values (None, NaN, ``pd.NA``, ``pd.NaT``) become None (JSON has no NaN); dates
    and datetimes become ISO text; numpy scalars become Python numbers, bools and strings.
    Anything else is returned as is.
    """
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if _missing(value):
        return None
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
        return None if _missing(value) else value
    return value
