"""The reader's language and units, without Flask: translated words and locale formats.

Map code (`geomap.maps`) and other Flask-free modules say things through a `Words` for the
request's language and units (``Words.for_(lang, units)``): ``gettext``/``ngettext`` from the
same catalogues Flask-Babel serves to templates (``geomap/translations``), and numbers, dates
and distances as the locale writes them (Babel: ``1 234,5`` and ``7 décembre 2026`` in French).
`geomap.i18n` picks the language of a request; this module only speaks it.

Units: rates per border length are shown per 100 miles or per 100 km, and border distances
(the border mile of an incident) in miles or km; each language has its default (`UNITS_BY_LANG`:
French readers get km), which ``units=`` overrides.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from pathlib import Path
from typing import Any

from babel import Locale, dates, numbers, support

#: The languages geomap speaks; the first is the default.
LANGUAGES = ("en", "fr")
#: Units of border length a reader may ask for (``units=``).
UNITS = ("mi", "km")
#: Each language's default units.
UNITS_BY_LANG = {"en": "mi", "fr": "km"}
#: Kilometres in a statute mile (exact by definition).
KM_PER_MILE = 1.609344
#: Rates per border length are given per this many units (per 100 miles, per 100 km).
RATE_LENGTH = 100
TRANSLATIONS = Path(__file__).resolve().parent / "translations"
#: Babel locales: Canadian French and US English, for number and date conventions.
BABEL_LOCALES = {"en": "en_US", "fr": "fr_CA"}


def N_(message: str) -> str:
    """Mark a message for extraction without translating it here (said later, in the
    reader's language, by ``gettext(message)``)."""
    return message


def default_units(lang: str) -> str:
    """Return the units a language's readers get unless they ask (``fr`` -> km, else mi)."""
    return UNITS_BY_LANG.get(lang, UNITS[0])


@functools.lru_cache(maxsize=8)
def translations(lang: str) -> support.NullTranslations:
    """Return the compiled catalogue of a language (English and missing ones: identity)."""
    if lang == LANGUAGES[0]:
        return support.NullTranslations()
    return support.Translations.load(str(TRANSLATIONS), [lang], "messages")


class Words:
    """What a map says in one language with one choice of units.

    Parameters
    ----------
    lang : str
        One of `LANGUAGES` (anything else reads as English).
    units : str, optional
        ``mi`` or ``km``; default the language's (`default_units`).
    """

    def __init__(self, lang: str = "en", units: str | None = None):
        self.lang = lang if lang in LANGUAGES else LANGUAGES[0]
        self.units = units if units in UNITS else default_units(self.lang)
        self.locale = Locale.parse(BABEL_LOCALES[self.lang])
        self._catalogue = translations(self.lang)

    @classmethod
    @functools.lru_cache(maxsize=8)
    def for_(cls, lang: str = "en", units: str | None = None) -> "Words":
        """Return the (shared, immutable) `Words` of a language and units."""
        return cls(lang, units)

    # --- words -------------------------------------------------------------------------------
    def gettext(self, message: str, **values: Any) -> str:
        """Translate ``message`` and fill its ``%(name)s`` placeholders (as Flask-Babel does)."""
        text = self._catalogue.gettext(message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: Any) -> str:
        """Translate the form for ``n``; ``%(num)s`` is ``n`` formatted for the locale."""
        text = self._catalogue.ngettext(singular, plural, n)
        return text % {"num": self.number(n), **values}

    # --- numbers and dates -------------------------------------------------------------------
    def number(self, value: float) -> str:
        """A count as the locale writes it: ``1,234`` / ``1 234`` (narrow no-break space)."""
        return numbers.format_decimal(value, locale=self.locale, decimal_quantization=False)

    def decimal(self, value: float, digits: int = 2) -> str:
        """A measure with at most ``digits`` decimals: ``1,234.5`` / ``1 234,5``."""
        pattern = "#,##0" + ("." + "#" * digits if digits else "")
        return numbers.format_decimal(round(float(value), digits), format=pattern,
                                      locale=self.locale)

    def compact(self, value: float) -> str:
        """A round legend bound, short: ``8M``, ``1.5M``, ``250K`` / ``8 M``, ``1,5 M``."""
        return numbers.format_compact_decimal(value, format_type="short", fraction_digits=2,
                                              locale=self.locale)

    def date(self, value: dt.date | dt.datetime, form: str = "long") -> str:
        """A date as the locale writes it: ``December 7, 2026`` / ``7 décembre 2026``."""
        if isinstance(value, dt.datetime):
            value = value.date()
        return dates.format_date(value, format=form, locale=self.locale)

    def month(self, year: int, month: int) -> str:
        """A month: ``Jan 2025`` / ``janv. 2025``."""
        return dates.format_skeleton("yMMM", dt.date(year, month, 1), locale=self.locale)

    def period(self, label: str) -> str:
        """A period label as `geomap.aggregate` writes it, as the locale says it: "2025-01" ->
        "Jan 2025" / "janv. 2025", "2025-Q1" -> "Q1 2025" / "T1 2025", a week (its Monday,
        "2025-01-06") -> "week of Jan 6, 2025", a year unchanged; anything else unchanged."""
        parts = label.split("-")
        try:
            if len(parts) == 2 and parts[1].startswith("Q"):
                return self.gettext("Q%(quarter)s %(year)s", quarter=parts[1][1:], year=parts[0])
            if len(parts) == 2:
                return self.month(int(parts[0]), int(parts[1]))
            if len(parts) == 3:
                day = dt.date(int(parts[0]), int(parts[1]), int(parts[2]))
                return self.gettext("week of %(date)s", date=self.date(day, "medium"))
        except ValueError:
            pass
        return label

    # --- units -------------------------------------------------------------------------------
    @property
    def km(self) -> bool:
        return self.units == "km"

    def rate_factor(self) -> float:
        """What a per-mile rate is multiplied by to read per 100 miles or per 100 km."""
        return RATE_LENGTH / KM_PER_MILE if self.km else float(RATE_LENGTH)

    def length(self, miles: float) -> float:
        """A border length or position in miles, in the reader's units."""
        return miles * KM_PER_MILE if self.km else miles

    def per_length(self) -> str:
        """The unit of a rate per border length: "per 100 miles of border" / "per 100 km"."""
        return (self.gettext("per 100 km of border") if self.km
                else self.gettext("per 100 miles of border"))

    def border_position(self, miles: float | None = None) -> str:
        """An incident's place along the border: "border mile 1,234" / "km 1 986 de la
        frontière" (from the Pacific end, as the border mile counts: the whole mile or km it is
        in); without ``miles`` the words around ``{n}`` (for a script to fill in)."""
        value = "{n}" if miles is None else self.number(math.floor(self.length(miles)))
        return (self.gettext("border km %(n)s", n=value) if self.km
                else self.gettext("border mile %(n)s", n=value))
