"""Admin1 codes and names, and declared state/province text -> code (:func:`normalise_region`)."""

from __future__ import annotations

import unicodedata

import numpy as np

#: ISO 3166-2 style codes and English names of the 64 admin1 units.
ADMIN1_NAMES = {
    "US-AL": "Alabama", "US-AK": "Alaska", "US-AZ": "Arizona", "US-AR": "Arkansas",
    "US-CA": "California", "US-CO": "Colorado", "US-CT": "Connecticut", "US-DE": "Delaware",
    "US-DC": "District of Columbia", "US-FL": "Florida", "US-GA": "Georgia", "US-HI": "Hawaii",
    "US-ID": "Idaho", "US-IL": "Illinois", "US-IN": "Indiana", "US-IA": "Iowa",
    "US-KS": "Kansas", "US-KY": "Kentucky", "US-LA": "Louisiana", "US-ME": "Maine",
    "US-MD": "Maryland", "US-MA": "Massachusetts", "US-MI": "Michigan", "US-MN": "Minnesota",
    "US-MS": "Mississippi", "US-MO": "Missouri", "US-MT": "Montana", "US-NE": "Nebraska",
    "US-NV": "Nevada", "US-NH": "New Hampshire", "US-NJ": "New Jersey", "US-NM": "New Mexico",
    "US-NY": "New York", "US-NC": "North Carolina", "US-ND": "North Dakota", "US-OH": "Ohio",
    "US-OK": "Oklahoma", "US-OR": "Oregon", "US-PA": "Pennsylvania", "US-RI": "Rhode Island",
    "US-SC": "South Carolina", "US-SD": "South Dakota", "US-TN": "Tennessee", "US-TX": "Texas",
    "US-UT": "Utah", "US-VT": "Vermont", "US-VA": "Virginia", "US-WA": "Washington",
    "US-WV": "West Virginia", "US-WI": "Wisconsin", "US-WY": "Wyoming",
    "CA-AB": "Alberta", "CA-BC": "British Columbia", "CA-MB": "Manitoba",
    "CA-NB": "New Brunswick", "CA-NL": "Newfoundland and Labrador", "CA-NS": "Nova Scotia",
    "CA-NT": "Northwest Territories", "CA-NU": "Nunavut", "CA-ON": "Ontario",
    "CA-PE": "Prince Edward Island", "CA-QC": "Quebec", "CA-SK": "Saskatchewan",
    "CA-YT": "Yukon",
}
#: French names where they differ from the English (Canada's official French names of the
#: provinces and territories; the usual French names of the states). Readers of French maps
#: see these (`admin1_name`).
ADMIN1_NAMES_FR = {
    "US-AK": "Alaska", "US-CA": "Californie", "US-DC": "District de Columbia",
    "US-FL": "Floride", "US-GA": "Géorgie", "US-HI": "Hawaï", "US-LA": "Louisiane",
    "US-NM": "Nouveau-Mexique", "US-NY": "État de New York", "US-NC": "Caroline du Nord",
    "US-ND": "Dakota du Nord", "US-PA": "Pennsylvanie", "US-SC": "Caroline du Sud",
    "US-SD": "Dakota du Sud", "US-VA": "Virginie", "US-WV": "Virginie-Occidentale",
    "US-WA": "État de Washington",
    "CA-BC": "Colombie-Britannique", "CA-NB": "Nouveau-Brunswick",
    "CA-NL": "Terre-Neuve-et-Labrador", "CA-NS": "Nouvelle-Écosse",
    "CA-NT": "Territoires du Nord-Ouest", "CA-PE": "Île-du-Prince-Édouard",
    "CA-QC": "Québec",
}


def admin1_name(code: str, lang: str = "en", default: str | None = None) -> str:
    """Return a state's or province's name in ``lang`` (``en`` or ``fr``).

    Parameters
    ----------
    code : str
        ``US-WA``, ``CA-BC``, ...
    lang : str
        ``fr`` gives the French name (`ADMIN1_NAMES_FR`, else the name shared by both
        languages); anything else the English one.
    default : str, optional
        Returned for an unknown code (else the code itself).
    """
    english = ADMIN1_NAMES.get(code)
    if english is None:
        return code if default is None else default
    if lang == "fr":
        return ADMIN1_NAMES_FR.get(code, english)
    return english


#: Other spellings people put in a State/Province column (keys are normalised).
_ALIASES = {
    "quebec": "CA-QC", "province de quebec": "CA-QC", "pq": "CA-QC", "que": "CA-QC",
    "newfoundland": "CA-NL", "labrador": "CA-NL", "nf": "CA-NL", "nfld": "CA-NL",
    "yukon territory": "CA-YT", "yk": "CA-YT", "colombie britannique": "CA-BC",
    "nouveau brunswick": "CA-NB", "nouvelle ecosse": "CA-NS", "nwt": "CA-NT",
    "ile du prince edouard": "CA-PE", "pei": "CA-PE", "terre neuve et labrador": "CA-NL",
    "territoires du nord ouest": "CA-NT", "washington state": "US-WA", "d c": "US-DC",
    "dc": "US-DC", "washington d c": "US-DC", "washington dc": "US-DC",
    # French names of the provinces and territories (ISO 3166-2:CA, French short names).
    "terre neuve": "CA-NL", "nouvelle ecosse": "CA-NS", "territoires du nord ouest": "CA-NT",
    "ile du prince edouard": "CA-PE", "alberta": "CA-AB", "manitoba": "CA-MB",
    "saskatchewan": "CA-SK", "ontario": "CA-ON", "nunavut": "CA-NU", "yukon": "CA-YT",
    # Abbreviations in older federal tables.
    "b c": "CA-BC", "alta": "CA-AB", "sask": "CA-SK", "man": "CA-MB", "ont": "CA-ON",
    "n b": "CA-NB", "n s": "CA-NS", "mont": "US-MT", "wash": "US-WA", "minn": "US-MN",
    "mich": "US-MI", "n y": "US-NY", "n d": "US-ND", "n h": "US-NH", "vt": "US-VT",
}
#: The states and provinces/territories the US–Canada border touches (on land or in a lake).
BORDER_ADMIN1 = frozenset({
    "US-AK", "US-WA", "US-ID", "US-MT", "US-ND", "US-MN", "US-MI", "US-OH", "US-PA", "US-NY",
    "US-VT", "US-NH", "US-ME", "CA-YT", "CA-BC", "CA-AB", "CA-SK", "CA-MB", "CA-ON", "CA-QC",
    "CA-NB"})


def norm_text(text: str) -> str:
    """Lower-case, strip accents and punctuation so 'Québec.' matches 'quebec'."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = "".join(ch if ch.isalnum() else " " for ch in text)
    return " ".join(text.split())


_norm = norm_text

#: Word forms published place names vary in (after `norm_text`): one spelling per word.
_WORDS = {"st": "saint", "ste": "sainte", "ft": "fort", "mt": "mount", "pt": "point",
          "intl": "international", "n": "north", "s": "south", "e": "east", "w": "west"}


def name_key(text: str) -> str:
    """Return the matching key of a place name: accents, case, punctuation, spaces and word
    forms (St./Saint, Ste./Sainte, Ft./Fort) do not matter (``Sweetgrass`` = ``Sweet Grass``)."""
    return "".join(_WORDS.get(w, w) for w in norm_text(text).split())


def _build_lookup() -> dict[str, str]:
    table = {}
    for code, name in ADMIN1_NAMES.items():
        table[_norm(name)] = code
        table[_norm(code)] = code  # "us wa"
        table[_norm(code[3:])] = code  # postal code "wa"
        table[_norm(code.replace("-", ""))] = code  # "uswa"
    table.update(_ALIASES)
    return table


_LOOKUP = _build_lookup()


def normalise_region(text) -> str | None:
    """Return the admin1 code (``US-WA``) for a declared state/province, or None.

    Accepts full names ('Washington', 'British Columbia', 'Québec'), postal codes
    ('WA', 'BC') and ``US-WA``-style codes, case- and accent-insensitively.
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return None
    key = _norm(str(text))
    return _LOOKUP.get(key) if key else None
