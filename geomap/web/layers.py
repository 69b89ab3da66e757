"""The configured regions file's display layers, for any view that draws or counts by them
(map views, the stats API): not a blueprint, so blueprints need not import each other.
"""

from __future__ import annotations

from flask import current_app

from .. import maps


def region_layers() -> dict:
    """Return the display layers of the configured regions file (empty when it is missing)."""
    return maps.display_layers(current_app.config.get("REGIONS_PATH"))
