"""US Border Patrol sectors by name: all 20, in the forms they are published in.

CBP's monthly encounter tables name a sector as ``Blaine``, ``Blaine Sector``, ``Blaine, WA``
or by its code ``BLW``. Only the 8 northern sectors have polygons (layer ``usbp_sectors``);
the 12 southwest and coastal sectors are known by name so that a row naming one is refused
as *outside the US–Canada border area* rather than as an unknown name.

Source of the names, codes and headquarters states: CBP's public list of Border Patrol
sectors ("Border Patrol Sectors", cbp.gov) and the sector column of CBP's "Nationwide
Encounters" tables. Big Bend was called Marfa until 2011 (code MRT, now BBT).
"""

from __future__ import annotations

from dataclasses import dataclass

from .names import norm_text


@dataclass(frozen=True)
class Sector:
    """One Border Patrol sector: CBP code, name, headquarters state, whether northern."""

    code: str
    name: str
    state: str
    northern: bool
    aliases: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """The sector's name as shown in reports (``Blaine Sector, WA``)."""
        return f"{self.name} Sector, {self.state}"


SECTORS = (
    # Northern border: the codes of layer usbp_sectors.
    Sector("BLW", "Blaine", "WA", True),
    Sector("SPW", "Spokane", "WA", True),
    Sector("HVM", "Havre", "MT", True),
    Sector("GFN", "Grand Forks", "ND", True),
    Sector("DTM", "Detroit", "MI", True),
    Sector("BUN", "Buffalo", "NY", True),
    Sector("SWB", "Swanton", "VT", True),
    Sector("HTM", "Houlton", "ME", True),
    # Southwest border.
    Sector("SDC", "San Diego", "CA", False),
    Sector("ELC", "El Centro", "CA", False),
    Sector("YUM", "Yuma", "AZ", False),
    Sector("TCA", "Tucson", "AZ", False),
    Sector("EPT", "El Paso", "TX", False),
    Sector("BBT", "Big Bend", "TX", False, ("Marfa", "MRT")),
    Sector("DRT", "Del Rio", "TX", False),
    Sector("LRT", "Laredo", "TX", False),
    Sector("RGV", "Rio Grande Valley", "TX", False, ("RGV", "McAllen")),
    # Coastal.
    Sector("MIP", "Miami", "FL", False),
    Sector("NOL", "New Orleans", "LA", False),
    Sector("RMY", "Ramey", "PR", False),
)
BY_CODE = {s.code: s for s in SECTORS}


def _keys(sector: Sector) -> set[str]:
    """Every normalised form a sector is published under."""
    out = set()
    for name in (sector.name, *sector.aliases):
        base = norm_text(name)
        out.update({base, f"{base} sector", f"{base} {sector.state.lower()}",
                    f"{base} sector {sector.state.lower()}"})
    out.add(norm_text(sector.code))
    return out


_LOOKUP = {key: s for s in SECTORS for key in _keys(s)}
#: Names offered as suggestions for an unknown sector name.
KNOWN_NAMES = tuple(f"{s.name} Sector" for s in SECTORS)


def find_sector(text) -> Sector | None:
    """Return the sector a cell names (``Blaine``, ``Blaine Sector``, ``Blaine, WA``, ``BLW``,
    ``BLAINE SECTOR (WA)``), or None when it names none."""
    if text is None:
        return None
    key = norm_text(str(text))
    if not key:
        return None
    found = _LOOKUP.get(key)
    if found is None and key.startswith("usbp "):
        found = _LOOKUP.get(key[5:])
    return found
