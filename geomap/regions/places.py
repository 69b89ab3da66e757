"""Named places near the border: the gazetteer (``shapefiles/places.csv``) and name matching.

`Gazetteer.find(name, admin1)` turns a port or town as published (``Sweetgrass``,
``Sweetgrass, MT``, ``Sault Ste. Marie``, ``Champlain-Rouses Point``, ``Port of Blaine``)
into one gazetteer place, or says why it cannot: the place is off this border (its state or
province is not on it, or it names a southwest Border Patrol sector), the name is in several
states and none was given, or the name is unknown (with the closest known names). The file
is built by ``build-places`` (`geomap.regions.build.places`); sources and licences are in
``shapefiles/README.md``.
"""

from __future__ import annotations

import csv
import difflib
import functools
import re
from dataclasses import dataclass
from pathlib import Path

from .names import ADMIN1_NAMES, BORDER_ADMIN1, name_key, norm_text, normalise_region
from .sectors import find_sector

DEFAULT_PLACES_PATH = Path(__file__).resolve().parents[2] / "shapefiles" / "places.csv"

#: Words around a port's name that are not part of the town's name.
_NOISE = re.compile(r"^(?:port of |poe )|(?: port of entry| border crossing| crossing| poe"
                    r"| lpoe| station| port)$")
#: Separators of ports named after two towns (``Champlain-Rouses Point``).
_PARTS = re.compile(r"\s*(?:-|–|/|&|\band\b)\s*")
#: Without a state, a name found in several is taken when only one of them is this near the
#: border (km): ``Blaine`` is Blaine, WA, not Blaine, MN.
NEAR_KM = 30.0
_STATE_SUFFIX = re.compile(r"^(.*?)\s*(?:,\s*|\(\s*)([^,()]+?)\)?\s*$")
#: Towns the ports of entry on this border are named after (or stand in): the US ports
#: (CBP's port list, issue 17) and their Canadian counterparts (CBSA offices at the same
#: crossings). build-places marks them ``port`` in places.csv; maps name them first.
PORT_TOWNS = (
    ("Sweetgrass", "US-MT"), ("Roosville", "US-MT"), ("Piegan", "US-MT"),
    ("Del Bonita", "US-MT"), ("Portal", "US-ND"), ("Pembina", "US-ND"), ("Warroad", "US-MN"),
    ("International Falls", "US-MN"), ("Blaine", "US-WA"), ("Sumas", "US-WA"),
    ("Lynden", "US-WA"), ("Oroville", "US-WA"), ("Danville", "US-WA"),
    ("Champlain", "US-NY"), ("Rouses Point", "US-NY"), ("Derby Line", "US-VT"),
    ("Highgate Springs", "US-VT"), ("Houlton", "US-ME"), ("Calais", "US-ME"),
    ("Madawaska", "US-ME"), ("Massena", "US-NY"), ("Ogdensburg", "US-NY"),
    ("Alexandria Bay", "US-NY"), ("Lewiston", "US-NY"), ("Buffalo", "US-NY"),
    ("Detroit", "US-MI"), ("Port Huron", "US-MI"), ("Sault Ste. Marie", "US-MI"),
    ("Norton", "US-VT"), ("Jackman", "US-ME"), ("Eastport", "US-ME"), ("Eastport", "US-ID"),
    ("Vanceboro", "US-ME"), ("Fort Kent", "US-ME"), ("Point Roberts", "US-WA"),
    ("Van Buren", "US-ME"), ("Beecher Falls", "US-VT"), ("Richford", "US-VT"),
    ("Delta", "CA-BC"), ("Surrey", "CA-BC"), ("Aldergrove", "CA-BC"), ("Abbotsford", "CA-BC"),
    ("Osoyoos", "CA-BC"), ("Grand Forks", "CA-BC"), ("Fort Frances", "CA-ON"),
    ("Sault Ste. Marie", "CA-ON"), ("Sarnia", "CA-ON"), ("Windsor", "CA-ON"),
    ("Fort Erie", "CA-ON"), ("Niagara Falls", "CA-ON"), ("Prescott", "CA-ON"),
    ("Cornwall", "CA-ON"), ("Lacolle", "CA-QC"), ("Rock Island", "CA-QC"),
    ("St. Stephen", "CA-NB"), ("Edmundston", "CA-NB"), ("Clair", "CA-NB"),
)


@dataclass(frozen=True)
class Place:
    """One gazetteer place."""

    name: str
    admin1: str
    lat: float
    lon: float
    border_km: float
    source: str

    @property
    def label(self) -> str:
        """``Sweet Grass, MT``: the name with its state or province code."""
        return f"{self.name}, {self.admin1[3:]}"


@dataclass(frozen=True)
class Miss:
    """Why a name was not placed: ``outside`` (off this border), ``ambiguous`` or ``unknown``."""

    kind: str
    reason: str
    suggestions: tuple[str, ...] = ()


def split_state(text: str) -> tuple[str, str | None]:
    """Split ``Sweetgrass, MT`` / ``Calais (Maine)`` into the name and its admin1 code;
    a suffix that names no state or province stays part of the name."""
    found = _STATE_SUFFIX.match(text)
    if found and ("," in text or "(" in text):
        code = normalise_region(found.group(2))
        if code:
            return found.group(1), code
    words = text.split()
    if len(words) > 1 and len(words[-1]) == 2 and words[-1].isupper():  # "Sweetgrass MT"
        code = normalise_region(words[-1])
        if code:
            return " ".join(words[:-1]), code
    return text, None


class Gazetteer:
    """The places of ``places.csv``, indexed by name key."""

    def __init__(self, places: list[Place]):
        self.places = places
        self.by_key: dict[str, list[Place]] = {}
        for place in places:  # one place per key and state (the build merged the sources)
            self.by_key.setdefault(name_key(place.name), []).append(place)
        self._names: dict[str | None, list[str]] = {}

    @classmethod
    def read(cls, path: str | Path) -> "Gazetteer":
        with open(path, encoding="utf-8", newline="") as source:
            rows = list(csv.DictReader(source))
        return cls([Place(r["name"], r["admin1"], float(r["lat"]), float(r["lon"]),
                          float(r["border_km"]), r["source"]) for r in rows])

    def find(self, text: str, admin1: str | None = None) -> Place | Miss:
        """Return the place `text` names (in `admin1`, when given or written after a comma),
        or a `Miss` saying why there is none.

        Parameters
        ----------
        text : str
            A port or town as published.
        admin1 : str, optional
            The declared state/province code (a separate State column); a state written in
            `text` itself wins when both are given and they differ.
        """
        name, written = split_state(str(text).strip())
        admin1 = written or admin1
        shown = f"{name}, {admin1[3:]}" if admin1 else name
        if admin1 and admin1 not in BORDER_ADMIN1:
            return Miss("outside", f"{shown} is in {ADMIN1_NAMES.get(admin1, admin1)}, which is "
                                   "not on the US–Canada border")
        for candidate in _candidates(name, leading_words=admin1 is not None):
            found = self.by_key.get(candidate, [])
            if admin1:
                found = [p for p in found if p.admin1 == admin1]
            near = [p for p in found if p.border_km <= NEAR_KM]
            if len(found) == 1 or len(near) == 1:
                return found[0] if len(found) == 1 else near[0]
            if len(found) > 1:
                return Miss("ambiguous", f"{shown} names places in several states/provinces ("
                            + "; ".join(p.label for p in found[:6]) + "): give the state or "
                            "province (a State column, or 'Name, ST')",
                            tuple(p.label for p in found[:6]))
        sector = find_sector(name)
        if sector is not None and not sector.northern:
            return Miss("outside", f"{shown} is the {sector.label} of the Border Patrol, not on "
                                   "the US–Canada border")
        return Miss("unknown", f"{shown} is not a known place near the US–Canada border",
                    self.suggest(name, admin1))

    def suggest(self, name: str, admin1: str | None, n: int = 3) -> tuple[str, ...]:
        """Return up to `n` known names close to `name` (in `admin1` when given)."""
        if admin1 not in self._names:
            self._names[admin1] = sorted({p.label for p in self.places
                                          if admin1 is None or p.admin1 == admin1})
        labels = self._names[admin1]
        by_name = {}
        for label in labels:
            by_name.setdefault(label.rsplit(",", 1)[0].lower(), []).append(label)
        close = difflib.get_close_matches(name.strip().lower(), list(by_name), n=n, cutoff=0.75)
        return tuple(label for c in close for label in by_name[c])[:n]


def _candidates(name: str, leading_words: bool) -> list[str]:
    """Keys to try, in order: the whole name, each part of a two-town name
    (``Champlain-Rouses Point``), then, when the state is known (`leading_words`), ever
    shorter leading words (``Champlain Rouses Point`` as BTS writes it: ``Champlain
    Rouses``, ``Champlain``)."""
    keys = [_clean(name)] + [_clean(p) for p in _PARTS.split(name) if p.strip()]
    words = norm_text(name).split()
    if leading_words:
        keys += [_clean(" ".join(words[:n])) for n in range(len(words) - 1, 0, -1)]
    return list(dict.fromkeys(k for k in keys if k))


def _clean(name: str) -> str:
    text = norm_text(name)
    previous = None
    while previous != text:  # "port of blaine poe" -> "blaine"
        previous, text = text, _NOISE.sub("", text).strip()
    return name_key(text)


def load_places(path: str | Path | None = None) -> Gazetteer:
    """Return the gazetteer of `path` (default ``shapefiles/places.csv``), read once per
    process and file."""
    return _load(str(Path(path or DEFAULT_PLACES_PATH).resolve()))


@functools.lru_cache(maxsize=4)
def _load(path: str) -> Gazetteer:
    return Gazetteer.read(path)
