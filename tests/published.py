"""Fixture generator: files shaped like published tables located by name, not coordinates.

- `bts_ports`: an older BTS border-crossing release (``Port Name, State, Port Code, Border,
  Date, Measure, Value`` and two trailing empty columns, CRLF, dates like ``2/1/20 0:00``),
  northern ports in the names BTS writes them under, mixed with Mexican-border ports;
- `usbp_sectors`: a CBP encounters table by sector (all 20 sectors, in the name forms the
  tables use) and month.

Every value is made here from the names below and a seeded generator; the expected totals
per port, state and sector are returned with the file. The port and sector *names* are the
test's expectations (the ports of entry on this border and the towns they are named after);
no coordinates appear anywhere.
"""

from __future__ import annotations

import csv
import io
import random
from collections import Counter
from pathlib import Path

#: Northern ports as BTS names them, with the state as BTS writes it and its admin1 code.
NORTHERN_PORTS = (
    ("Sweetgrass", "Montana", "US-MT"), ("Roosville", "Montana", "US-MT"),
    ("Piegan", "Montana", "US-MT"), ("Del Bonita", "Montana", "US-MT"),
    ("Portal", "North Dakota", "US-ND"), ("Pembina", "North Dakota", "US-ND"),
    ("Warroad", "Minnesota", "US-MN"), ("International Falls-Ranier", "Minnesota", "US-MN"),
    ("Blaine", "Washington", "US-WA"), ("Sumas", "Washington", "US-WA"),
    ("Lynden", "Washington", "US-WA"), ("Oroville", "Washington", "US-WA"),
    ("Danville", "Washington", "US-WA"), ("Champlain Rouses Point", "New York", "US-NY"),
    ("Derby Line", "Vermont", "US-VT"), ("Highgate Springs", "Vermont", "US-VT"),
    ("Houlton", "Maine", "US-ME"), ("Calais", "Maine", "US-ME"),
    ("Madawaska", "Maine", "US-ME"), ("Massena", "New York", "US-NY"),
    ("Ogdensburg", "New York", "US-NY"), ("Alexandria Bay", "New York", "US-NY"),
    ("Lewiston", "New York", "US-NY"), ("Buffalo Niagara Falls", "New York", "US-NY"),
    ("Detroit", "Michigan", "US-MI"), ("Port Huron", "Michigan", "US-MI"),
    ("Sault Sainte Marie", "Michigan", "US-MI"), ("Norton", "Vermont", "US-VT"),
    ("Jackman", "Maine", "US-ME"), ("Eastport", "Maine", "US-ME"),
    ("Vanceboro", "Maine", "US-ME"), ("Fort Kent", "Maine", "US-ME"),
    ("Eastport", "Idaho", "US-ID"),
)
MEXICAN_PORTS = {"Nogales": "Arizona", "El Paso": "Texas", "San Ysidro": "California",
                 "Laredo": "Texas", "Calexico": "California", "Columbus": "New Mexico"}
MEASURES = ("Personal Vehicle Passengers", "Pedestrians", "Trucks")

#: The 20 Border Patrol sectors as the encounter tables write them -> (code, northern).
SECTOR_NAMES = {
    "Blaine Sector": ("BLW", True), "Spokane": ("SPW", True), "Havre, MT": ("HVM", True),
    "Grand Forks Sector": ("GFN", True), "DTM": ("DTM", True), "Buffalo": ("BUN", True),
    "Swanton, VT": ("SWB", True), "HOULTON SECTOR": ("HTM", True),
    "San Diego": ("SDC", False), "El Centro": ("ELC", False), "Yuma": ("YUM", False),
    "Tucson": ("TCA", False), "El Paso": ("EPT", False), "Big Bend": ("BBT", False),
    "Del Rio": ("DRT", False), "Laredo": ("LRT", False), "Rio Grande Valley": ("RGV", False),
    "Miami": ("MIP", False), "New Orleans": ("NOL", False), "Ramey": ("RMY", False),
}


def bts_ports(path: Path, *, months: int = 3, seed: int = 17) -> dict:
    """Write a BTS-style ports file without coordinates; return the expected figures.

    Returns
    -------
    dict
        ``rows`` (data rows), ``northern_rows``, ``mexican_rows``, ``by_port`` ((BTS port
        name, admin1) -> total Value of its rows), ``by_state`` (admin1 -> total),
        ``by_code`` (Port Code -> total) and ``code_of`` ((name, admin1) -> Port Code).
    """
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["Port Name", "State", "Port Code", "Border", "Date", "Measure", "Value",
                     "", ""])
    by_port, by_state = Counter(), Counter()
    northern = mexican = 0
    ports = [(name, state, admin1, "US-Canada Border") for name, state, admin1 in NORTHERN_PORTS]
    ports += [(name, state, None, "US-Mexico Border") for name, state in MEXICAN_PORTS.items()]
    by_code = Counter()
    for month in range(1, months + 1):
        for number, (name, state, admin1, border) in enumerate(ports):
            code = f"{3001 + number:04d}"
            for measure in MEASURES:
                value = rng.randint(0, 5000)
                writer.writerow([name, state, code, border, f"{month}/1/20 0:00",
                                 measure, value, "", ""])
                if admin1:
                    northern += 1
                    by_port[(name, admin1)] += value
                    by_code[code] += value
                    by_state[admin1] += value
                else:
                    mexican += 1
    path.write_bytes(out.getvalue().encode("utf-8"))
    return {"rows": northern + mexican, "northern_rows": northern, "mexican_rows": mexican,
            "by_port": dict(by_port), "by_state": dict(by_state), "by_code": dict(by_code),
            "code_of": {(name, admin1): f"{3001 + number:04d}"
                        for number, (name, _s, admin1, _b) in enumerate(ports) if admin1}}


def usbp_sectors(path: Path, *, months: int = 4, seed: int = 20) -> dict:
    """Write a CBP-style encounters table by sector and month (all 20 sectors).

    Returns
    -------
    dict
        ``by_sector`` (code -> total of the northern sectors), ``northern_rows``,
        ``other_rows`` (rows of the 12 other sectors).
    """
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Date", "Sector", "Encounter Count"])
    by_sector, northern, other = Counter(), 0, 0
    for month in range(1, months + 1):
        for name, (code, is_northern) in SECTOR_NAMES.items():
            value = rng.randint(1, 900)
            writer.writerow([f"2024-{month:02d}-01", name, value])
            if is_northern:
                by_sector[code] += value
                northern += 1
            else:
                other += 1
    path.write_text(out.getvalue(), encoding="utf-8")
    return {"by_sector": dict(by_sector), "northern_rows": northern, "other_rows": other}
