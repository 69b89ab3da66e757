"""Tables shaped like published period data, generated here with their exact totals.

- `usbp_monthly_sector`: USBP's "Monthly Sector" sheet (``Fiscal\\nYear``, ``Month`` like
  ``02 November``, ``Sector``, ``Quantity``), generated from *calendar* months and written
  with fiscal labels, so the import's fiscal -> calendar conversion is checked against the
  months the table was made from;
- `rcmp_table`: RCMP-style interceptions per province and month, in English or French, long
  or wide (one column per month, a Total column, '..' and empty cells);
- `monthly_series`: 30 years of monthly counts at ~89 port locations along the border.

Each returns the table (rows of cells) and the expected totals per calendar month. Locations
are given as coordinates near the (fake) border of tests/ingest_helpers.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ENGLISH = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
ENGLISH_SHORT = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                 "Dec")
FRENCH = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
          "octobre", "novembre", "décembre")
FRENCH_SHORT = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.",
                "oct.", "nov.", "déc.")

#: Northern sectors with a point near the line, and southwest ones (outside the area).
NORTHERN = {"Blaine, WA": (48.95, -122.75), "Spokane, WA": (48.9, -117.4),
            "Havre, MT": (48.9, -109.7), "Swanton, VT": (44.95, -73.1),
            "Houlton, ME": (44.9, -67.8)}
SOUTHWEST = {"Tucson, AZ": (32.2, -110.9), "El Paso, TX": (31.8, -106.4)}


def usbp_monthly_sector(fiscal_years=(2024, 2025)) -> tuple[list[list], dict[str, int]]:
    """USBP's "Monthly Sector" sheet: rows of ``Fiscal\\nYear, Month, Sector, Latitude,
    Longitude, Quantity`` for every month of the fiscal years, northern and southwest sectors.

    Returns the rows (header first) and the expected northern total per calendar month
    (``YYYY-MM``); southwest rows must be refused. `usbp_by_sector` gives the totals per
    sector and calendar month.
    """
    rows = [["Fiscal\nYear", "Month", "Sector", "Latitude", "Longitude", "Quantity"]]
    expected: dict[str, int] = {}
    for fy in fiscal_years:
        # The fiscal year's twelve calendar months, October of the year before first.
        calendar = [(fy - 1, m) for m in (10, 11, 12)] + [(fy, m) for m in range(1, 10)]
        for place, (year, month) in enumerate(calendar, 1):
            label = f"{place:02d} {ENGLISH[month - 1]}"
            for k, (sector, (lat, lon)) in enumerate({**NORTHERN, **SOUTHWEST}.items()):
                quantity = (year * 7 + month * 13 + k * 29) % 97 + k
                rows.append([fy if k % 2 else f"FY{fy}", label, sector, lat, lon, quantity])
                if sector in NORTHERN:
                    key = f"{year}-{month:02d}"
                    expected[key] = expected.get(key, 0) + quantity
    return rows, expected


def usbp_by_sector(rows: list[list]) -> dict[tuple[str, str], int]:
    """(sector, calendar month ``YYYY-MM``) -> total of the northern rows of
    `usbp_monthly_sector`, computed from the fiscal labels by counting the months from
    October of the year before (not by `periods.calendar_month`)."""
    order = [10, 11, 12, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    out: dict[tuple[str, str], int] = {}
    for fy, label, sector, _lat, _lon, quantity in rows[1:]:
        if sector not in NORTHERN:
            continue
        year = int(str(fy).removeprefix("FY"))
        place = int(label[:2])
        month = order[place - 1]
        key = (sector, f"{year - 1 if place <= 3 else year}-{month:02d}")
        out[key] = out.get(key, 0) + quantity
    return out


PROVINCES = {"Quebec": (45.01, -73.45), "British Columbia": (49.01, -122.75),
             "Manitoba": (49.01, -97.2), "New Brunswick": (45.2, -67.3)}


def rcmp_counts(year: int = 2024) -> dict[tuple[str, int], str]:
    """(province, month) -> the published cell: a count, '..' (not available) or ''."""
    cells = {}
    for p, province in enumerate(PROVINCES):
        for month in range(1, 13):
            value = (month * 37 + p * 11) % 150
            cells[province, month] = ".." if (p, month) == (3, 2) else (
                "" if (p, month) == (2, 7) else str(value))
    return cells


def rcmp_table(*, french: bool, wide: bool, year: int = 2024) -> tuple[list[list], dict]:
    """RCMP-style interceptions per province and month: rows (header first) and the expected
    total per calendar month (``YYYY-MM``)."""
    cells = rcmp_counts(year)
    short = FRENCH_SHORT if french else ENGLISH_SHORT
    full = FRENCH if french else ENGLISH
    expected = {}
    for (province, month), value in cells.items():
        if value not in ("", ".."):
            key = f"{year}-{month:02d}"
            expected[key] = expected.get(key, 0) + int(value)
    place = ["Province", "Latitude", "Longitude"]
    if wide:
        header = place + [f"{short[m - 1]} {year}" for m in range(1, 13)] + ["Total"]
        rows = [header]
        for province, (lat, lon) in PROVINCES.items():
            values = [cells[province, m] for m in range(1, 13)]
            total = sum(int(v) for v in values if v not in ("", ".."))
            rows.append([province, lat, lon, *values, total])
        return rows, expected
    rows = [place + (["Mois", "Nombre"] if french else ["Month", "Interceptions"])]
    for province, (lat, lon) in PROVINCES.items():
        for month in range(1, 13):
            value = cells[province, month]
            if value not in ("", ".."):
                rows.append([province, lat, lon, f"{full[month - 1]} {year}", value])
    return rows, expected


def csv_text(rows: list[list]) -> bytes:
    """The rows as UTF-8 CSV (the header may hold a line break: quoted)."""
    return pd.DataFrame(rows[1:], columns=rows[0]).to_csv(index=False).encode("utf-8")


def port_locations(n: int = 89) -> pd.DataFrame:
    """`n` port locations along the fake border (49°N west of 95°W, 45°N east), a few
    hundred metres south of the line, spread from 123°W to 67.5°W."""
    lon = np.round(np.linspace(-123.0, -67.5, n), 4)
    lat = np.where(lon < -95, 48.997, 44.997)
    return pd.DataFrame({"port": [f"Port {i:02d}" for i in range(n)], "lat": lat, "lon": lon})


def monthly_series(years=(1995, 2024), ports: int = 89) -> tuple[pd.DataFrame, pd.Series]:
    """30 years of monthly counts per port: columns ``date`` (``YYYY-MM``), ``lat``, ``lon``,
    ``port``, ``count``; and the expected total per month (index ``YYYY-MM``)."""
    places = port_locations(ports)
    months = pd.period_range(f"{years[0]}-01", f"{years[1]}-12", freq="M")
    grid = places.merge(pd.DataFrame({"month": months.astype(str)}), how="cross")
    index = np.arange(len(grid))
    grid["count"] = (index * 7919) % 500 + 1
    grid = grid.rename(columns={"month": "date"})
    expected = grid.groupby("date")["count"].sum()
    return grid[["date", "lat", "lon", "port", "count"]], expected
