"""The settings ingest reads, typed: built once per call from the app's configuration.

The web and CLI doors pass `Settings.from_config(app.config)` instead of the whole Flask
config; defaults come from `geomap.config.SETTINGS` (never restated here). No Flask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from .. import store
from ..config import SETTINGS

_DEFAULTS = {setting.name: setting.default for setting in SETTINGS}


@dataclass(frozen=True)
class Settings:
    """What an import reads of the configuration.

    Attributes
    ----------
    upload_folder : str
        Where uploads are kept under their sha256, with ``rejected/<import_id>.csv``.
    regions_path : str
        The region layers (GeoPackage) the doors load (`load_regions`).
    at_border_m : float
        Points within this many metres of the border are flagged at_border.
    max_border_km : float
        Rows farther from the border are accepted with a warning (rejected in strict mode).
    area_km : float
        Rows farther from the border than this are outside the area of interest.
    import_cache_mb : float
        SQLite: the page cache of an import, and the memory its index rebuild sorts in.
    storage : store.Storage, optional
        The shared store (``STORAGE_URL``) where previews, the original file of every
        import and rejected-rows files are kept for every app server; the upload folder is
        then this server's working copy. None: the upload folder alone.
    """

    upload_folder: str
    regions_path: str
    at_border_m: float
    max_border_km: float
    area_km: float
    storage: Any = None
    import_cache_mb: float = _DEFAULTS["IMPORT_CACHE_MB"]

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "Settings":
        """Read the settings from a mapping (``app.config``); missing keys take the defaults
        of `geomap.config.SETTINGS`. ``UPLOAD_FOLDER`` has no default there (it is filled
        from the instance folder), so it must be given. The shared store is the one
        ``STORAGE_URL`` names when ``DATABASE_URL`` is given (`store.storage_for`)."""
        def get(name: str) -> Any:
            return config.get(name, _DEFAULTS[name])

        return cls(upload_folder=str(config["UPLOAD_FOLDER"]),
                   regions_path=str(get("REGIONS_PATH")), at_border_m=float(get("AT_BORDER_M")),
                   max_border_km=float(get("MAX_BORDER_KM")), area_km=float(get("AREA_KM")),
                   import_cache_mb=float(get("IMPORT_CACHE_MB")),
                   storage=store.storage_for(str(get("STORAGE_URL")), config["DATABASE_URL"])
                   if config.get("DATABASE_URL") else None)
