"""Fast, vectorised join of points to states/provinces, Border Patrol sectors and the border.

The layers live in ``shapefiles/regions.gpkg`` (built by :mod:`geomap.regions.build`, see
``shapefiles/README.md``).  All coordinates are WGS84 longitude/latitude (EPSG:4326);
distances are geodesic on the WGS84 ellipsoid.  This package does not import Flask.

Border miles: 0 at the Pacific end of the lower-48 boundary (Strait of Juan de Fuca),
increasing eastward to the Atlantic (Grand Manan Channel); the Alaska–Canada boundary
continues the count from the lower-48 total, starting at Dixon Entrance (Pacific) and
ending in the Beaufort Sea.

Speed: :func:`load` also builds lookup grids (a few MB, under a second) from the layers.
The admin1 and sector grids answer every cell no polygon boundary comes near, so only
points near a boundary get the exact ``contains_xy`` test; the border grid says which
search level a point's nearest-vertex query can start on. Both only skip work whose
outcome is already decided, so :func:`assign` returns exactly what it returns without
them (``dataclasses.replace(regions, _admin1_grid=None, _sector_grid=None,
_border_grid=None)``, which the tests compare on edge cases).
"""

from .join import DEFAULT_AOI_KM, assign
from .border import border_miles, border_position
from .geodesy import CRS, GEOD, METRES_PER_MILE, SEARCH_CRS, geodesic_miles
from .layers import DEFAULT_PATH, Regions, load, region_names
from .names import ADMIN1_NAMES, BORDER_ADMIN1, normalise_region
from .places import DEFAULT_PLACES_PATH, Gazetteer, Miss, Place, load_places
from .sectors import KNOWN_NAMES as SECTOR_NAMES, SECTORS, Sector, find_sector

__all__ = ["ADMIN1_NAMES", "BORDER_ADMIN1", "CRS", "DEFAULT_AOI_KM", "DEFAULT_PATH",
           "DEFAULT_PLACES_PATH", "GEOD", "Gazetteer", "METRES_PER_MILE", "Miss", "Place",
           "Regions", "SEARCH_CRS", "SECTORS", "SECTOR_NAMES", "Sector", "assign",
           "border_miles", "border_position", "find_sector", "geodesic_miles", "load",
           "load_places", "normalise_region", "region_names"]
