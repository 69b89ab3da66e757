"""Map and download filters: query arguments -> a validated, normalised dict.

One parser serves map pages, embeds, downloads and the API, so the same URL means the same
selection everywhere. The normalised dict uses the keys `store.filter_clauses` understands
(``from``/``to`` as UTC datetimes, ``to`` exclusive; list-valued ``type``, ``direction``,
``country``, ``admin1``, ``sector``) plus the display options ``layer``, ``by``, ``period``,
``cumulative``, ``theme`` and what an embed shows (``title``, ``legend``, ``table``).
`canonical_query` turns it back into a stable query string used in cache keys and
links.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Iterable, Mapping
from urllib.parse import urlencode

from .errors import BadRequest
from .language import LANGUAGES, UNITS, N_, Words, default_units

LAYERS = ("heat", "cluster", "choropleth", "time")
BY_VALUES = ("admin1", "sector", "border_segment")
BY_ALIASES = {"border_mile": "border_segment", "segment": "border_segment",
              "border_segments": "border_segment", "state": "admin1", "province": "admin1"}
#: Time-layer frames: picked from the span (``auto``), or asked for.
PERIODS = ("auto", "week", "month", "quarter", "year")
PERIOD_ALIASES = {"weekly": "week", "monthly": "month", "quarterly": "quarter",
                  "annual": "year", "yearly": "year"}
#: The time layer's cumulative option: each frame shows everything up to its period.
CUMULATIVE = ("0", "1")
CUMULATIVE_ALIASES = {"false": "0", "no": "0", "off": "0", "true": "1", "yes": "1", "on": "1"}
THEMES = ("light", "dark")
#: What an embed shows besides its map (the embed builder's checkboxes): ``title=hide`` drops
#: the heading, ``legend=hide`` the legend, ``table=hide`` the table of counts under it.
#: Embed-only: map pages ignore them (`PAGE_KEYS`), so they never split a page's cache.
SHOW = ("show", "hide")
SHOW_ALIASES = {"1": "show", "true": "show", "yes": "show", "on": "show",
                "0": "hide", "false": "hide", "no": "hide", "off": "hide"}
EMBED_KEYS = ("title", "legend", "table")
PER_VALUES = ("count", "border_mile")
PER_ALIASES = {"mile": "border_mile", "border_miles": "border_mile", "miles": "border_mile",
               "total": "count", "none": "count"}
DIRECTIONS = (N_("northbound"), N_("southbound"), N_("unknown"))
DIRECTION_ALIASES = {"n": "northbound", "nb": "northbound", "north": "northbound",
                     "northbound": "northbound", "s": "southbound", "sb": "southbound",
                     "south": "southbound", "southbound": "southbound", "unknown": "unknown",
                     "u": "unknown"}
COUNTRIES = ("US", "CA")
#: US Border Patrol northern sectors (SPEC §5): stored code -> name. A filter value may be the
#: code or the name, in any case; it is normalised to the code the incidents table stores.
SECTORS = {"BLW": "Blaine", "SPW": "Spokane", "HVM": "Havre", "GFN": "Grand Forks",
           "DTM": "Detroit", "BUN": "Buffalo", "SWB": "Swanton", "HTM": "Houlton"}
SECTORS_BY_LOWER = {**{name.lower(): code for code, name in SECTORS.items()},
                    **{code.lower(): code for code in SECTORS}}

LANG_ALIASES = {"english": "en", "francais": "fr", "français": "fr", "french": "fr"}
UNITS_ALIASES = {"mile": "mi", "miles": "mi", "kilometre": "km", "kilometres": "km",
                 "kilometer": "km", "kilometers": "km"}

#: Display options and their defaults (omitted from the canonical query when default).
DEFAULTS = {"layer": "heat", "by": "admin1", "period": "auto", "theme": "light",
            "per": "count", "cumulative": "0", "title": "show", "legend": "show",
            "table": "show"}
#: Reader options: language and units. None when not asked for: a page then answers in the
#: browser's language (geomap.i18n), an embed in English; units follow the language
#: (`language.default_units`), so the canonical query names them only when they differ.
READER_KEYS = ("lang", "units")
#: Keys that may repeat; each holds a sorted tuple of distinct values.
LIST_KEYS = ("type", "direction", "country", "admin1", "sector")
#: Every parameter this module reads; anything else in the query is ignored.
PARAMS = ("from", "to") + LIST_KEYS + tuple(DEFAULTS) + READER_KEYS
#: The subset that selects incidents (the rest only changes how they are drawn).
SELECTION_KEYS = ("from", "to") + LIST_KEYS
#: What keys a map page (the embed-only options left out).
PAGE_KEYS = tuple(k for k in PARAMS if k not in EMBED_KEYS)

_ADMIN1_RE = re.compile(r"^(US|CA)-[A-Z]{2}$")
_SECTOR_RE = re.compile(r"^[A-Za-z][A-Za-z .'-]{0,19}$")
# ASCII digits only: str patterns match any Unicode digit by default ("２０２５" would pass).
_DATE_RE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$", re.ASCII)
_NUMBER_RE = re.compile(r"^\d{1,15}$", re.ASCII)
#: Years a ``from``/``to`` date may name. Incidents are never in the future (ingest rejects
#: them), so the range is generous for real data, yet it keeps every date and its exclusive
#: end (``to=2199`` ends at 2200-01-01) far from the edges of Python's calendar (year 1 to
#: 9999: ``to=9999-12-31`` would end in year 10000), of pandas' timestamps (1677 to 2262) and
#: of the databases. A date outside it is a 400 naming the range, not clamped: ``to=9999``
#: silently meaning "no end" while ``to=10000`` is refused would be two rules, and a typo such
#: as ``from=0225-01-01`` deserves a message rather than an empty or unfiltered map.
MIN_YEAR, MAX_YEAR = 1900, 2199
_MAX_VALUES = 50
_MAX_TYPE_LEN = 100


def _bad(param: str, value: Any, expected: "str | tuple[str, dict]") -> BadRequest:
    """The 400 of a bad parameter. ``expected`` is English text, or a message marked for
    translation and its values (``(N_("one of %(choices)s"), {...})``), so an error page can
    say it in the reader's language (`errors.GeomapError.localised`); the JSON ``details``
    keep the English."""
    if isinstance(value, str) and len(value) > 100:
        value = value[:100] + "…"  # enough to recognise it; a megabyte is not echoed back
    english = expected[0] % expected[1] if isinstance(expected, tuple) else expected
    return BadRequest(f"parameter {param!r} has value {value!r}; expected {english}",
                      details={"parameter": param, "value": value, "expected": english},
                      translatable=(N_("parameter %(param)s has value %(value)s; expected "
                                       "%(expected)s"),
                                    {"param": repr(param), "value": repr(value),
                                     "expected": expected}))


def _one_of(choices: Iterable[str], note: str = "") -> tuple[str, dict]:
    """What a choice parameter expects, for `_bad`: "one of a, b"."""
    return N_("one of %(choices)s"), {"choices": ", ".join(choices) + note}


def _getlist(args: Any, key: str) -> list[str]:
    """Return every value of key from a MultiDict, a dict of lists or a plain dict."""
    if hasattr(args, "getlist"):
        values = args.getlist(key)
    else:
        raw = args.get(key) if isinstance(args, Mapping) else None
        if raw is None:
            values = []
        elif isinstance(raw, (list, tuple)):
            values = list(raw)
        else:
            values = [raw]
    return [v if isinstance(v, str) else str(v) for v in values]


def _single(args: Any, key: str) -> str | None:
    values = [v.strip() for v in _getlist(args, key)]
    values = [v for v in values if v != ""]
    if not values:
        return None
    if len(set(values)) > 1:
        raise _bad(key, values, (N_("a single value (the parameter was given more than "
                                    "once)"), {}))
    return values[0]


def _parse_date(param: str, text: str, *, end: bool) -> dt.datetime:
    """Parse YYYY, YYYY-MM or YYYY-MM-DD (an end date is inclusive: returns the next start)."""
    match = _DATE_RE.match(text)
    values = {"first": f"{MIN_YEAR}-01-01", "last": f"{MAX_YEAR}-12-31"}
    expected = (N_("a date from %(first)s to %(last)s as YYYY-MM-DD, YYYY-MM or YYYY"), values)
    if not match:
        raise _bad(param, text, expected)
    year, month, day = match.group(1), match.group(2), match.group(3)
    if not MIN_YEAR <= int(year) <= MAX_YEAR:
        raise _bad(param, text, expected)
    try:
        start = dt.datetime(int(year), int(month or 1), int(day or 1))
    except ValueError:
        raise _bad(param, text, (N_("a date from %(first)s to %(last)s as YYYY-MM-DD, YYYY-MM "
                                    "or YYYY that exists in the calendar"), values)) from None
    if not end:
        return start
    if day:
        return start + dt.timedelta(days=1)
    if month:
        return dt.datetime(start.year + (start.month == 12), start.month % 12 + 1, 1)
    return dt.datetime(start.year + 1, 1, 1)


def whole_number(param: str, raw: str | None, *, low: int, high: int, unit: str = ""
                 ) -> int | None:
    """Parse a whole-number query parameter within [low, high]; None when absent or empty.

    Parameters
    ----------
    param : str
        The parameter's name, for the message.
    raw : str or None
        Its value as sent (surrounding spaces are ignored).
    low, high : int
        The accepted range, both included.
    unit : str
        What the number counts ("pixels"), for the message.

    Returns
    -------
    int or None

    Raises
    ------
    geomap.errors.BadRequest
        For anything but ASCII digits in range: signs, decimals, ``nan``/``inf``, other
        scripts' digits (``str.isdigit`` accepts "²", which ``int`` then refuses) and
        numbers too long for ``int`` (over 4300 digits) are all refused with one message.
    """
    text = (raw or "").strip()
    if text == "":
        return None
    value = int(text) if _NUMBER_RE.match(text) else None
    if value is None or not low <= value <= high:
        # Translatable for the units callers use (pixels) and none; else English only.
        message = {"": N_("a whole number from %(low)s to %(high)s"),
                   "of pixels": N_("a whole number of pixels from %(low)s to %(high)s")}.get(
            unit, f"a whole number {unit} from %(low)s to %(high)s")
        raise _bad(param, text, (message, {"low": low, "high": high}))
    return value


def _list(args: Any, key: str, normalise) -> tuple[str, ...]:
    out: set[str] = set()
    raw_values = _getlist(args, key)
    if len(raw_values) > _MAX_VALUES:
        raise _bad(key, f"{len(raw_values)} values", (N_("at most %(n)s values"),
                                                      {"n": _MAX_VALUES}))
    for raw in raw_values:
        text = raw.strip()
        if text == "":
            continue
        out.add(normalise(text))
    return tuple(sorted(out))


def _choice(args: Any, key: str, choices: Iterable[str], aliases: Mapping[str, str] | None = None
            ) -> str:
    value = _single(args, key)
    if value is None:
        return DEFAULTS[key]
    lowered = value.lower()
    lowered = (aliases or {}).get(lowered, lowered)
    if lowered not in choices:
        raise _bad(key, value, _one_of(choices))
    return lowered


def _lang(args: Any) -> str | None:
    return parse_lang(_single(args, "lang"))


def parse_lang(value: str | None) -> str | None:
    """``lang=en|fr`` (``fr-CA``, ``fr_CA`` and ``FR`` read as ``fr``), or None when absent.

    Raises
    ------
    geomap.errors.BadRequest
        For a language geomap does not speak.
    """
    value = (value or "").strip()
    if not value:
        return None
    lowered = value.lower().replace("_", "-")
    lowered = LANG_ALIASES.get(lowered, lowered.split("-")[0])
    if lowered not in LANGUAGES:
        raise _bad("lang", value, _one_of(LANGUAGES))
    return lowered


def _units(args: Any) -> str | None:
    """``units=mi|km`` (rates per 100 miles or 100 km of border, distances), or None."""
    value = _single(args, "units")
    if value is None:
        return None
    lowered = value.lower()
    lowered = UNITS_ALIASES.get(lowered, lowered)
    if lowered not in UNITS:
        raise _bad("units", value, (N_("one of %(choices)s (rates per 100 miles or per 100 km "
                                       "of border)"), {"choices": ", ".join(UNITS)}))
    return lowered


def language(filters: Mapping[str, Any]) -> str:
    """Return the language of normalised filters (English unless ``lang`` names one)."""
    return filters.get("lang") or LANGUAGES[0]


def units(filters: Mapping[str, Any]) -> str:
    """Return the units of normalised filters (asked for, else the language's default)."""
    return filters.get("units") or default_units(language(filters))


def _type(text: str) -> str:
    if len(text) > _MAX_TYPE_LEN or any(ord(ch) < 32 for ch in text):
        raise _bad("type", text, (N_("an incident type of at most %(n)s printable characters"),
                                  {"n": _MAX_TYPE_LEN}))
    return text


def _direction(text: str) -> str:
    value = DIRECTION_ALIASES.get(text.lower())
    if value is None:
        raise _bad("direction", text, _one_of(DIRECTIONS))
    return value


def _country(text: str) -> str:
    value = text.upper()
    if value not in COUNTRIES:
        raise _bad("country", text, (N_("US or CA"), {}))
    return value


def _admin1(text: str) -> str:
    value = text.upper().replace("_", "-")
    if not _ADMIN1_RE.match(value):
        raise _bad("admin1", text, (N_("a state or province code such as US-WA or CA-BC"), {}))
    return value


def _sector(text: str) -> str:
    if not _SECTOR_RE.match(text):
        raise _bad("sector", text, (N_("a Border Patrol sector code or name such as BLW or "
                                       "Blaine"), {}))
    return SECTORS_BY_LOWER.get(text.lower(), text)


def parse(args: Any) -> dict[str, Any]:
    """Validate query arguments and return the normalised filter dict.

    Parameters
    ----------
    args : Mapping or MultiDict
        Query arguments: a werkzeug ``MultiDict`` (``request.args``), a dict of lists or a dict
        of strings. Unknown parameters are ignored (embeds often carry tracking parameters).

    Returns
    -------
    dict
        ``from``/``to`` (naive UTC ``datetime`` or None; ``to`` is exclusive, so ``to=2025-03``
        selects through the end of March), sorted tuples for ``type``, ``direction``,
        ``country``, ``admin1``, ``sector``, and ``layer``, ``by``, ``period`` (``auto``: the
        time layer picks weeks, months, quarters or years from the span), ``cumulative``
        (``"0"``/``"1"``), ``theme``,
        ``per`` (``count`` or ``border_mile``: choropleth values divided by each region's
        length of border), ``lang`` (``en``/``fr``) and ``units`` (``mi``/``km``), each None
        when not asked for (see `language` and `units`), and the embed's ``title``, ``legend``
        and ``table`` (``show`` or ``hide``; ``1``/``0``, ``yes``/``no``, ``true``/``false``,
        ``on``/``off`` too).

    Raises
    ------
    geomap.errors.BadRequest
        Naming the parameter, the value and what was expected.
    """
    out: dict[str, Any] = {}
    start = _single(args, "from")
    end = _single(args, "to")
    out["from"] = _parse_date("from", start, end=False) if start else None
    out["to"] = _parse_date("to", end, end=True) if end else None
    if out["from"] and out["to"] and out["from"] >= out["to"]:
        raise _bad("to", end, (N_("a date on or after from=%(start)s"), {"start": start}))
    out["type"] = _list(args, "type", _type)
    out["direction"] = _list(args, "direction", _direction)
    out["country"] = _list(args, "country", _country)
    out["admin1"] = _list(args, "admin1", _admin1)
    out["sector"] = _list(args, "sector", _sector)
    out["layer"] = _choice(args, "layer", LAYERS)
    out["by"] = _choice(args, "by", BY_VALUES, BY_ALIASES)
    out["period"] = _choice(args, "period", PERIODS, PERIOD_ALIASES)
    out["cumulative"] = _choice(args, "cumulative", CUMULATIVE, CUMULATIVE_ALIASES)
    out["theme"] = _choice(args, "theme", THEMES)
    out["per"] = _choice(args, "per", PER_VALUES, PER_ALIASES)
    for key in EMBED_KEYS:
        out[key] = _choice(args, key, SHOW, SHOW_ALIASES)
    out["lang"] = _lang(args)
    out["units"] = _units(args)
    return out


def page_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Return filters with the embed-only options at their defaults (what a map page draws)."""
    return {**params, **{key: DEFAULTS[key] for key in EMBED_KEYS}}


def _format_from(value: dt.datetime) -> str:
    return value.date().isoformat()


def _format_to(value: dt.datetime) -> str:
    """Format an exclusive end as the inclusive date the user would type."""
    return (value - dt.timedelta(days=1)).date().isoformat()


def query_pairs(filters: Mapping[str, Any], *, keys: Iterable[str] = PARAMS,
                include_defaults: bool = False) -> list[tuple[str, str]]:
    """Return the (name, value) pairs of a normalised dict in canonical order."""
    pairs: list[tuple[str, str]] = []
    for key in keys:
        value = filters.get(key)
        if key == "from" and value:
            pairs.append((key, _format_from(value)))
        elif key == "to" and value:
            pairs.append((key, _format_to(value)))
        elif key in LIST_KEYS:
            pairs.extend((key, v) for v in sorted(value or ()))
        elif key in DEFAULTS and value and (include_defaults or value != DEFAULTS[key]):
            pairs.append((key, value))
        elif key == "lang" and value and (include_defaults or value != LANGUAGES[0]):
            pairs.append((key, value))
        elif key == "units" and value and (
                include_defaults or value != default_units(language(filters))):
            pairs.append((key, value))
    return pairs


def canonical_query(filters: Mapping[str, Any], *, keys: Iterable[str] = PARAMS,
                    **changes: Any) -> str:
    """Return the canonical query string (stable order, defaults omitted) for filters.

    Keyword arguments replace values first, e.g. ``canonical_query(f, layer="cluster")`` for a
    layer-switch link. Two requests that select and draw the same thing give the same string.
    """
    merged = dict(filters)
    merged.update(changes)
    return urlencode(query_pairs(merged, keys=keys))


def selection(filters: Mapping[str, Any]) -> dict[str, Any]:
    """Return only the keys that select incidents (what `store.filter_clauses` reads)."""
    return {k: filters.get(k) for k in SELECTION_KEYS}


#: How `describe` names the list filters (said in the reader's language).
DESCRIBE_KEYS = {"type": N_("type"), "direction": N_("direction"), "country": N_("country"),
                 "admin1": N_("state or province"), "sector": N_("sector")}


def describe(filters: Mapping[str, Any], words: Words | None = None) -> str:
    """Return a short plain-text description of the active selection ('' when none), with
    dates as the language of `words` writes them (English by default)."""
    w = words or Words.for_()
    parts = []
    start = filters.get("from") and w.date(filters["from"])
    end = filters.get("to") and w.date(filters["to"] - dt.timedelta(days=1))
    if start and end:
        parts.append(w.gettext("%(start)s to %(end)s", start=start, end=end))
    elif start:
        parts.append(w.gettext("from %(start)s", start=start))
    elif end:
        parts.append(w.gettext("through %(end)s", end=end))
    for key in LIST_KEYS:
        if filters.get(key):
            values = filters[key]
            if key == "direction":
                values = [w.gettext(v) for v in values]
            parts.append(w.gettext("%(key)s: %(values)s", key=w.gettext(DESCRIBE_KEYS[key]),
                                   values=", ".join(values)))
    return "; ".join(parts)
